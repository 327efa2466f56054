"""German wording: three genders, four-way adjective endings by article and case, verb-second order."""

from __future__ import annotations

from llmdiff.worlds.shapes.captions.base import Language

SHAPES = {"circle": ("Kreis", "m"), "square": ("Quadrat", "n"), "triangle": ("Dreieck", "n"),
          "diamond": ("Raute", "f"), "cross": ("Kreuz", "n"), "star": ("Stern", "m")}
COLOURS = {"red": "rot", "green": "grün", "blue": "blau", "yellow": "gelb", "purple": "violett",
           "orange": "orangefarben"}
SIZES = {"small": "klein", "large": "groß"}
BACKGROUNDS = {"white": "weiß", "gray": "grau", "black": "schwarz"}
NUMBERS = ("keine", "eine", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "elf",
           "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn")
ORDINALS = ("ersten", "zweiten", "dritten", "vierten")  # dative feminine, after "der"
HALVES = {"top": "oberen", "bottom": "unteren", "left": "linken", "right": "rechten"}

GENDERS = {"m": 0, "n": 1, "f": 2}
ARTICLES = {  # (definite?, case) -> articles for m, n, f
    (False, "nom"): ("ein", "ein", "eine"), (False, "acc"): ("einen", "ein", "eine"),
    (False, "dat"): ("einem", "einem", "einer"),
    (True, "nom"): ("der", "das", "die"), (True, "acc"): ("den", "das", "die"), (True, "dat"): ("dem", "dem", "der"),
}
ENDINGS = {  # adjective endings after those articles (mixed and weak declension)
    (False, "nom"): ("er", "es", "e"), (False, "acc"): ("en", "es", "e"), (False, "dat"): ("en", "en", "en"),
    (True, "nom"): ("e", "e", "e"), (True, "acc"): ("en", "e", "e"), (True, "dat"): ("en", "en", "en"),
}
# Subject relative to anchor: a preposition taking the dative, and its pronominal adverb ("daneben").
RELATIONS = {"left of": "links von", "right of": "rechts von", "above": "direkt über", "below": "direkt unter"}
PRONOUN_RELATIONS = {"left of": "Links davon", "right of": "Rechts davon", "above": "Darüber", "below": "Darunter"}


def cap(text: str) -> str:
    return text[0].upper() + text[1:]


def place(row: int, col: int, grid: int) -> str:
    if grid == 1:
        return "in der Bildmitte"
    vertical, horizontal = ("oberen", "unteren"), ("linken", "rechten")
    if grid == 2:
        return f"in der {horizontal[col]} {vertical[row]} Ecke"
    if grid == 3:
        names = [["in der linken oberen Ecke", "in der Mitte der oberen Reihe", "in der rechten oberen Ecke"],
                 ["in der Mitte des linken Rands", "genau in der Mitte", "in der Mitte des rechten Rands"],
                 ["in der linken unteren Ecke", "in der Mitte der unteren Reihe", "in der rechten unteren Ecke"]]
        return names[row][col]
    return f"in der {ORDINALS[row]} Reihe von oben und der {ORDINALS[col]} Spalte von links"


def contract(text: str) -> str:
    """ "von dem" is always "vom" in running text."""
    return text.replace("von dem ", "vom ")


def noun_phrase(obj, case: str, definite: bool = False, with_size: bool = True) -> str:
    noun, gender = SHAPES[obj.shape]
    g = GENDERS[gender]
    ending = ENDINGS[(definite, case)][g]
    adjectives = ([SIZES[obj.size] + ending] if with_size else []) + [COLOURS[obj.colour] + ending]
    return " ".join([ARTICLES[(definite, case)][g], *adjectives, noun])


class German(Language):
    code = "de"
    name = "Deutsch"
    fillers = (
        "Jede Figur ist flach in einer einzigen, einheitlichen Farbe gezeichnet, ohne Umriss, Schatten oder Textur.",
        "Die Formen berühren und überlappen sich nicht; jede bleibt in ihrem eigenen Feld eines unsichtbaren Rasters.",
        "Im Bild gibt es keinerlei Text und keinen Rahmen an den Rändern.",
        "Der Stil erinnert an eine sehr einfache Vektorgrafik oder an eine Seite aus einem Bilderbuch.",
        "Nichts im Bild wirft einen Schatten, und die Beleuchtung ist völlig gleichmäßig.",
        "Abgesehen von den hier beschriebenen Formen ist die Fläche vollkommen leer.",
        "Die Kanten der Formen sind scharf und sauber, als wären sie aus farbigem Papier ausgeschnitten.",
    )

    def reference(self, scene, index, case: str) -> str:
        obj = scene.objects[index]
        phrase = noun_phrase(obj, case, definite=True, with_size=False)
        twins = [o for o in scene.objects if (o.shape, o.colour) == (obj.shape, obj.colour)]
        return phrase if len(twins) == 1 else f"{phrase} {place(obj.row, obj.col, scene.grid)}"

    def opening(self, scene, act, facts, rng):
        n, bg, g = facts["count"], BACKGROUNDS[scene.background], NUMBERS[scene.grid]
        g = "ein" if g == "eine" else g
        if n == 1:
            return rng.choice((
                f"Das Bild zeigt eine einzelne einfache geometrische Form auf {bg}em Hintergrund.",
                f"Auf einer {bg}en Fläche liegt eine farbige Form, ausgerichtet an einem unsichtbaren Raster aus {g} mal {g} Feldern.",
                f"Vor einem {bg}en Hintergrund ist eine einzige Form angeordnet.",
            ))
        return rng.choice((
            f"Das Bild zeigt {NUMBERS[n]} einfache geometrische Formen auf {bg}em Hintergrund.",
            f"Auf einer {bg}en Fläche liegen {NUMBERS[n]} farbige Formen, verteilt auf ein unsichtbares Raster aus {g} mal {g} Feldern.",
            f"Vor einem {bg}en Hintergrund sind {NUMBERS[n]} Formen über das Bild verteilt.",
            f"Zu sehen ist eine schlichte Komposition aus {NUMBERS[n]} Formen auf {bg}em Grund.",
        ))

    def background(self, scene, act, facts, rng):
        bg = BACKGROUNDS[scene.background]
        return rng.choice((
            f"Der Hintergrund ist gleichmäßig {bg}, ohne Verlauf oder Muster.",
            f"Hinter allem liegt eine einheitlich {bg}e Fläche, die das ganze Bild ausfüllt.",
            f"Der schlichte {bg}e Hintergrund lässt die Farben der Formen deutlich hervortreten.",
        ))

    def composition(self, scene, act, facts, rng):
        parts = []
        empty, cells = facts["empty"], NUMBERS[facts["cells"]]
        if empty == 1:
            parts.append(f"Eines der {cells} Felder des Rasters ist leer.")
        elif empty:
            parts.append(f"{cap(NUMBERS[empty])} der {cells} Felder des Rasters sind leer.")
        else:
            parts.append("Alle Felder des Rasters sind belegt.")
        if facts["heavier"]:
            parts.append(f"Das visuelle Gewicht liegt vor allem in der {HALVES[facts['heavier']]} Bildhälfte.")
        elif facts["count"] > 1:
            parts.append("Die Formen sind gleichmäßig verteilt, die Komposition wirkt ausgewogen.")
        if facts["centre"] is not None:
            parts.append("Das mittlere Feld ist belegt." if facts["centre"] else "Das mittlere Feld ist leer.")
        return " ".join(parts)

    def object(self, scene, act, facts, rng):
        obj = scene.objects[act.subject]
        where = place(obj.row, obj.col, scene.grid)
        nom, acc = noun_phrase(obj, "nom"), noun_phrase(obj, "acc")
        if act.anchor is not None:
            if act.pronoun:
                if act.adjacent and rng.random() < 0.5:
                    return f"Die Form daneben, {where}, ist {nom}."
                return f"{PRONOUN_RELATIONS[act.relation]}, {where}, befindet sich {nom}."
            ref = self.reference(scene, act.anchor, "dat")
            lead = contract(f"{RELATIONS[act.relation].replace('direkt ', '')} {ref}")
            return f"{cap(lead)}, {where}, befindet sich {nom}."
        return rng.choice((
            f"{cap(where)} befindet sich {nom}.",
            f"{cap(where)} sieht man {acc}.",
            f"{cap(nom)} liegt {where}.",
            f"{cap(where)} erkennt man {acc}.",
        ) + ((f"Zu den Formen gehört auch {nom}, und zwar {where}.",) if facts["count"] > 1 else ()))

    def relation(self, scene, act, facts, rng):
        a = self.reference(scene, act.subject, "nom")
        b = self.reference(scene, act.anchor, "dat")
        return contract(rng.choice((f"{cap(a)} liegt {RELATIONS[act.relation]} {b}.",
                                    f"Dabei befindet sich {a} {RELATIONS[act.relation]} {b}.")))

    def closing(self, scene, act, facts, rng):
        return rng.choice(("Sonst ist nichts im Bild zu sehen.",
                           "Weitere Objekte, Schrift oder Verzierungen gibt es nicht.",
                           "Mehr ist auf dem Bild nicht zu sehen."))

    def short(self, scene, order, rng, places):
        bg = BACKGROUNDS[scene.background]
        phrases = [noun_phrase(scene.objects[i], "nom", with_size=len(order) <= 6) for i in order[:8]]
        if places:
            phrases = [f"{p} {place(*scene.objects[i].cell, scene.grid)}" for p, i in zip(phrases, order)]
        if len(order) > 8:
            phrases.append(f"{NUMBERS[len(order) - 8]} weitere Formen")
        listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " und " + phrases[-1]
        return rng.choice((f"{listed} auf {bg}em Hintergrund", f"{listed} vor {bg}em Hintergrund",
                           f"einfache Illustration: {listed}, Hintergrund {bg}"))
