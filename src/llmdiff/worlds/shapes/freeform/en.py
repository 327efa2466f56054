"""English in a person's own words: the training lexicon and frames."""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmdiff.worlds.shapes.freeform.wording import Frames, Lexicon, Wording

NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
           "twelve", "thirteen", "fourteen", "fifteen", "sixteen")
ORDINALS = ("first", "second", "third", "fourth")


def article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "x", "sh", "ch")) else "s")


def corner(vertical: str, horizontal: str, compass: str, clock: str, clock_word: str) -> tuple[tuple[str, str], ...]:
    upper = {"top": "upper", "bottom": "lower"}[vertical]
    return (
        (f"in the {vertical}-{horizontal} corner", f"{vertical} {horizontal}"),
        (f"in the {vertical} {horizontal} corner", f"{vertical}-{horizontal}"),
        (f"in the {vertical}-{horizontal}", f"{vertical}-{horizontal} corner"),
        (f"in the {upper} {horizontal}", f"{upper} {horizontal}"),
        (f"in the {upper}-{horizontal} quadrant", f"{upper}-{horizontal} quadrant"),
        (f"in the {compass} corner", f"{compass} corner"),
        (f"at {clock_word} o'clock", f"{clock} o'clock"),
        (f"near the {vertical} on the {horizontal}", f"{vertical} {horizontal} corner"),
        (f"{'up' if vertical == 'top' else 'down'} in the {vertical}-{horizontal} corner", f"{upper} {horizontal} corner"),
        (f"in the {upper}-{horizontal} area", f"{upper}-{horizontal} area"),
        (f"in the {vertical}-{horizontal} region", f"{vertical}-{horizontal} region"),
        (f"in the {vertical} {horizontal}-hand corner", f"{vertical} {horizontal}-hand corner"),
        (f"{'high' if vertical == 'top' else 'low'} on the {horizontal}", f"{'high' if vertical == 'top' else 'low'} {horizontal}"),
        (f"at the {vertical}, on the {horizontal}", f"{vertical}, {horizontal}"),
        (f"in the {upper} {horizontal} part", f"{upper} {horizontal} part"),
    )


LEXICON = Lexicon(
    shapes={
        "circle": ("circle", "disc", "round dot", "dot", "round shape", "disk", "ball", "circular shape", "round blob",
                   "bubble", "roundel", "coin shape"),
        "square": ("square", "box", "block", "square shape", "cube", "box shape", "square block", "squarish shape",
                   "four-sided box"),
        "triangle": ("triangle", "three-sided shape", "triangle shape", "triangular shape", "pyramid", "arrowhead",
                     "delta", "three-cornered shape"),
        "diamond": ("diamond", "rhombus", "diamond shape", "tilted square", "rotated square", "rhombic shape",
                    "diamond figure"),
        "cross": ("cross", "plus sign", "plus shape", "plus symbol", "cross shape", "cross sign", "Swiss cross",
                  "plus mark"),
        "star": ("star", "five-pointed star", "star shape", "star symbol", "five-point star", "pointy star",
                 "star figure", "starburst"),
    },
    colours={
        "red": ("red", "scarlet", "cherry red", "bright red", "fire-engine red", "blood red", "brick red", "tomato red",
                "poppy red", "strawberry red", "lipstick red", "cardinal red", "carmine", "signal red",
                "candy-apple red"),
        "green": ("green", "emerald", "leaf green", "bright green", "grass green", "lime green", "forest green",
                  "apple green", "shamrock green", "clover green", "pea green", "frog green"),
        "blue": ("blue", "royal blue", "cobalt", "sapphire", "cornflower blue", "ultramarine", "electric blue",
                 "ocean blue", "denim blue", "true blue", "bright blue", "vivid blue"),
        "yellow": ("yellow", "lemon yellow", "golden yellow", "sunny yellow", "banana yellow", "vivid yellow",
                   "sunflower yellow", "buttercup yellow", "bright yellow", "school-bus yellow", "chick yellow"),
        "purple": ("purple", "violet", "grape", "plum", "royal purple", "bright purple", "deep purple", "vivid purple",
                   "grape purple", "purplish"),
        "orange": ("orange", "tangerine", "pumpkin orange", "bright orange", "carrot orange", "vivid orange",
                   "burnt orange", "mango", "saffron", "traffic-cone orange", "clementine"),
    },
    sizes={"small": ("small", "little", "tiny", "smallish", "miniature", "itty-bitty", "diminutive", "pint-sized",
                     "undersized", "little bitty"),
           "large": ("large", "big", "huge", "chunky", "massive", "enormous", "oversized", "sizable", "great big",
                     "bulky", "king-size", "mammoth", "whopping")},
    backgrounds={
        "white": ("white", "plain white", "snow white", "pure white", "bright white", "paper white", "chalk white",
                  "blank white", "clean white", "all white"),
        "gray": ("gray", "grey", "slate grey", "mid grey", "medium gray", "stone grey", "steel grey",
                 "concrete grey", "pewter"),
        "black": ("black", "jet black", "solid black", "dark", "coal black", "midnight black", "onyx", "soot black",
                  "deep black", "all black"),
    },
    places={
        ("top", "left"): corner("top", "left", "north-west", "10", "ten"),
        ("top", "right"): corner("top", "right", "north-east", "2", "two"),
        ("bottom", "left"): corner("bottom", "left", "south-west", "8", "eight"),
        ("bottom", "right"): corner("bottom", "right", "south-east", "4", "four"),
        ("top", "centre"): (("in the middle of the top row", "middle of the top row"), ("at the top in the middle", "top centre"), ("at the top, centred", "top middle"),
                            ("at twelve o'clock", "12 o'clock"), ("in the north", "north"),
                            ("near the top in the middle", "top center")),
        ("bottom", "centre"): (("in the middle of the bottom row", "middle of the bottom row"),
                               ("at the bottom in the middle", "bottom centre"), ("at the bottom, centred", "bottom middle"),
                               ("at six o'clock", "6 o'clock"), ("in the south", "south"),
                               ("near the bottom in the middle", "bottom center")),
        ("middle", "left"): (("in the middle of the left edge", "centre left"), ("on the left in the middle", "middle left"), ("at nine o'clock", "9 o'clock"),
                             ("in the west", "west"), ("halfway down the left side", "middle of the left side")),
        ("middle", "right"): (("in the middle of the right edge", "centre right"), ("on the right in the middle", "middle right"), ("at three o'clock", "3 o'clock"),
                              ("in the east", "east"), ("halfway down the right side", "middle of the right side")),
        ("middle", "centre"): (("in the very centre", "centre"), ("in the centre", "the centre"), ("in the center", "center"),
                               ("right in the middle", "middle"), ("dead centre", "dead center")),
    },
)

FRAMES = Frames(
    object=("There is {np} {where}.", "{np} {where}.", "{np} sits {where}.", "{where}, {np}.", "{label}: {np}.",
            "I see {np} {where}.", "You can see {np} {where}.", "{where} there's {np}.", "And {np} {where}.",
            "{np} is placed {where}.", "{np}, {where}.", "{where} we have {np}.", "Then {np} {where}.",
            "Draw {np} {where}.", "{np} goes {where}."),
    item=("{bare} {label}", "{bare}, {label}", "{label}: {bare}", "{bare} ({label})", "{label} {bare}",
          "{tags}, {label}"),
    background=("The background is {bg}.", "Background: {bg}.", "All on {a_bg} background.", "It's on {bg}.",
                "The backdrop is {bg}.", "Behind them, plain {bg}.", "{bg} background."),
    background_item=("{bg} background", "on {bg}", "{bg} bg", "background {bg}", "{bg} backdrop"),
    opening=("{count} on {bg}.", "A picture of {count} on {a_bg} background.", "Simple drawing, {count}.",
             "Here are {count}.", "{count} in a grid.", "{a_bg} canvas with {count}."),
    heading=("Shapes:", "Objects:", "What's in it:", "Contents:", "In the picture:"),
    closing=("That's all.", "Nothing else.", "That's everything in the picture.", "No other shapes."),
    negation_pair=("There is no {neg}.", "No {neg}.", "There's no {neg} anywhere.", "It has no {neg}."),
    negation_shape=("No {plural}.", "There are no {plural}.", "No {plural} at all."),
    negation_colour=("Nothing is {colour}.", "Nothing {colour}.", "There is nothing {colour} in it."),
    distractors=(
        "My daughter drew this one after school.", "The artist signed it on the back.",
        "It feels calm and a little playful.", "I'd like to hang it above my desk.", "The mood is cheerful.",
        "It was made for a birthday card.", "Honestly it looks like a toy catalogue.",
        "The file is for a slide about geometry.", "This is the third picture in a series.",
        "The printer ran out of ink twice while printing it.", "Please keep the proportions as described.",
        "No shadows or gradients please.", "Keep the width and the height equal.", "Make it look clean and flat.",
        "It's for a children's puzzle book.", "The artist usually works in watercolour, but not here.",
        "I think it's a good example of minimalism.", "Art class, week three.",
        "This goes on page twelve of the workbook.", "It has an orderly, quiet mood.",
        "The original hangs in a small gallery in Lyon.", "It would look nice in a thin wooden frame.",
        "The frame is not part of the picture.", "We used it as a logo sketch for a café.",
        "The teacher says it helps with learning colours.", "I love how simple it is.",
        "It was drawn on a tablet in about five minutes.", "Think of a poster in a kindergarten.",
        "My brother says it looks like a board game.", "It makes me think of summer holidays.",
    ),
)


@dataclass(frozen=True)
class English(Wording):
    def fields(self, obj, grid, rng: random.Random) -> dict[str, str]:
        size = rng.choice(self.lexicon.sizes[obj.size])
        colour = rng.choice(self.lexicon.colours[obj.colour])
        shape = rng.choice(self.lexicon.shapes[obj.shape])
        where, label = self.place(obj, grid, rng)
        bare = f"{size} {colour} {shape}"
        tags = ", ".join(rng.sample([shape, colour, size], 3)) if rng.random() < 0.5 else f"{shape}, {colour}, {size}"
        return {"np": f"{article(bare)} {bare}", "bare": bare, "where": where, "label": label, "tags": tags}

    def grid_place(self, row, col, grid):
        text = f"{ORDINALS[row]} row from the top, {ORDINALS[col]} column from the left"
        return f"in the {text}", text

    def background_fields(self, name, rng):
        bg = self.background(name, rng)
        return {"bg": bg, "a_bg": f"{article(bg)} {bg}"}

    def count(self, n):
        word = NUMBERS[n] if n < len(NUMBERS) else str(n)
        return f"{word} {'shape' if n == 1 else 'shapes'}"

    def negation_fields(self, shape, colour, rng):
        shape_word = rng.choice(self.lexicon.shapes[shape]) if shape else ""
        colour_word = rng.choice(self.lexicon.colours[colour]) if colour else ""
        return {"neg": f"{colour_word} {shape_word}".strip(), "plural": plural(shape_word) if shape else "",
                "colour": colour_word}


WORDING = English(LEXICON, FRAMES, code="en")
