"""English wording."""

from __future__ import annotations

from llmdiff.worlds.shapes.captions.base import Language

SHAPE_WORDS = {
    "circle": ("circle", "disc", "round dot"),
    "square": ("square",),
    "triangle": ("triangle",),
    "diamond": ("diamond", "rhombus"),
    "cross": ("cross", "plus sign"),
    "star": ("star", "five-pointed star"),
}
COLOUR_WORDS = {"red": ("red",), "green": ("green",), "blue": ("blue",), "yellow": ("yellow",),
                "purple": ("purple", "violet"), "orange": ("orange",)}
SIZE_WORDS = {"small": ("small", "little"), "large": ("large", "big")}
BACKGROUND_WORDS = {"white": "white", "gray": "gray", "black": "black"}
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
           "twelve", "thirteen", "fourteen", "fifteen", "sixteen")
ORDINALS = ("first", "second", "third", "fourth")
RELATIONS = {"left of": "to the left of", "right of": "to the right of", "above": "directly above",
             "below": "directly below"}
PRONOUN_RELATIONS = {"left of": "To the left of it", "right of": "To the right of it", "above": "Above it",
                     "below": "Below it"}


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def place(row: int, col: int, grid: int) -> str:
    """Where a cell is, as a phrase that follows "in" / "at": "the top-left corner"."""
    if grid == 1:
        return "the middle of the picture"
    if grid == 2:
        return f"the {('top', 'bottom')[row]}-{('left', 'right')[col]} corner"
    if grid == 3:
        names = [["the top-left corner", "the middle of the top row", "the top-right corner"],
                 ["the middle of the left edge", "the very centre", "the middle of the right edge"],
                 ["the bottom-left corner", "the middle of the bottom row", "the bottom-right corner"]]
        return names[row][col]
    return f"the {ORDINALS[row]} row from the top, {ORDINALS[col]} column from the left"


class English(Language):
    code = "en"
    name = "English"
    fillers = (
        "Every figure is drawn flat, in a single solid colour, with no outline, shading or texture.",
        "The shapes do not touch or overlap; each one keeps to its own cell of an invisible grid.",
        "There is no text anywhere in the picture, and no frame around its edges.",
        "The style is that of a simple vector illustration or a page from a children's picture book.",
        "Nothing in the image casts a shadow, and the lighting is perfectly even.",
        "Apart from the shapes described here, the canvas is completely empty.",
        "The edges of the shapes are crisp and clean, as if cut from coloured paper.",
    )

    def noun_phrase(self, obj, rng, definite=False, with_size=True) -> str:
        words = []
        if with_size:
            words.append(rng.choice(SIZE_WORDS[obj.size]))
        words += [rng.choice(COLOUR_WORDS[obj.colour]), rng.choice(SHAPE_WORDS[obj.shape])]
        phrase = " ".join(words)
        return f"the {phrase}" if definite else f"{article(phrase)} {phrase}"

    def reference(self, scene, index, rng) -> str:
        """A definite phrase naming one described object unambiguously."""
        obj = scene.objects[index]
        phrase = f"the {rng.choice(COLOUR_WORDS[obj.colour])} {rng.choice(SHAPE_WORDS[obj.shape])}"
        twins = [o for o in scene.objects if (o.shape, o.colour) == (obj.shape, obj.colour)]
        return phrase if len(twins) == 1 else f"{phrase} in {place(obj.row, obj.col, scene.grid)}"

    def opening(self, scene, act, facts, rng):
        n, bg = facts["count"], BACKGROUND_WORDS[scene.background]
        things = "shape" if n == 1 else "shapes"
        return rng.choice((
            f"This image shows {NUMBERS[n]} simple geometric {things} on a plain {bg} background.",
            (f"A flat {bg} canvas holds {NUMBERS[n]} coloured {things}, laid out on an invisible "
             f"{NUMBERS[scene.grid]}-by-{NUMBERS[scene.grid]} grid."),
            f"Against a {bg} backdrop, {NUMBERS[n]} {things} {'is' if n == 1 else 'are'} arranged across the frame.",
            f"The picture is a minimal composition of {NUMBERS[n]} {things} set on {bg}.",
        ))

    def background(self, scene, act, facts, rng):
        bg = BACKGROUND_WORDS[scene.background]
        return rng.choice((
            f"The background is a single, even {bg}, with no gradient or pattern.",
            f"Behind everything lies a uniform {bg} field that fills the whole image.",
            f"The whole backdrop is plain {bg}, which makes the colours of the shapes stand out.",
        ))

    def composition(self, scene, act, facts, rng):
        parts = []
        empty = facts["empty"]
        if empty:
            parts.append(rng.choice((
                (f"{NUMBERS[empty].capitalize()} of the {NUMBERS[facts['cells']]} cells of the grid "
                 f"{'is' if empty == 1 else 'are'} left empty."),
                f"The layout leaves {NUMBERS[empty]} of its {NUMBERS[facts['cells']]} cells empty.",
            )))
        else:
            parts.append("Every cell of the grid is occupied.")
        if facts["heavier"]:
            half = {"top": "upper", "bottom": "lower", "left": "left", "right": "right"}[facts["heavier"]]
            parts.append(f"Most of the visual weight sits in the {half} half of the picture.")
        elif facts["count"] > 1:
            parts.append("The shapes are spread evenly, so the composition feels balanced.")
        if facts["centre"] is not None:
            parts.append("The central cell is occupied." if facts["centre"] else "The central cell is empty.")
        return " ".join(parts)

    def object(self, scene, act, facts, rng):
        obj = scene.objects[act.subject]
        np_ = self.noun_phrase(obj, rng)
        where = place(obj.row, obj.col, scene.grid)
        if act.anchor is not None:
            if act.pronoun:
                if act.adjacent and rng.random() < 0.5:
                    return f"The shape {'beside' if act.relation in ('left of', 'right of') else 'next to'} it, in {where}, is {np_}."
                return f"{PRONOUN_RELATIONS[act.relation]}, in {where}, there is {np_}."
            ref = self.reference(scene, act.anchor, rng)
            return f"{RELATIONS[act.relation].capitalize()} {ref}, in {where}, we find {np_}."
        return rng.choice((
            f"In {where} there is {np_}.",
            f"{np_.capitalize()} sits in {where}.",
            f"Looking at {where}, you will see {np_}.",
            f"{where[0].upper() + where[1:]} is occupied by {np_}.",
        ) + ((f"One of the shapes is {np_}, placed in {where}.",) if facts["count"] > 1 else ()))

    def relation(self, scene, act, facts, rng):
        a, b = self.reference(scene, act.subject, rng), self.reference(scene, act.anchor, rng)
        return rng.choice((
            f"{a[0].upper() + a[1:]} is {RELATIONS[act.relation]} {b}.",
            f"Note that {a} lies {RELATIONS[act.relation]} {b}.",
        ))

    def closing(self, scene, act, facts, rng):
        n = facts["count"]
        return rng.choice((
            "There is nothing else in the image.",
            f"{'That single shape is' if n == 1 else f'These {NUMBERS[n]} shapes are'} all there is to see.",
            "No other objects, letters or decorations appear anywhere.",
        ))

    def short(self, scene, order, rng, places):
        bg = BACKGROUND_WORDS[scene.background]
        sized = len(order) <= 6
        phrases = [self.noun_phrase(scene.objects[i], rng, with_size=sized) for i in order]
        if places:
            phrases = [f"{p} in {place(*scene.objects[i].cell, scene.grid)}" for p, i in zip(phrases, order)]
        if len(phrases) > 8:  # alt-text stays short: the rest is only counted
            phrases = phrases[:8] + [f"{NUMBERS[len(order) - 8]} more shapes"]
        listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
        return rng.choice((
            f"{listed} on a {bg} background",
            f"{listed} against {bg}",
            f"flat illustration of {listed}, {bg} background",
            f"simple shapes: {listed} on {bg}",
        ))
