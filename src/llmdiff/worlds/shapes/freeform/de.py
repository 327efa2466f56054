"""German in a person's own words: the training lexicon and frames (nouns carry gender and plural;
adjectives are stems, declined where the grammar needs it, or marked indeclinable like "lila")."""

from __future__ import annotations

from dataclasses import dataclass

from llmdiff.worlds.shapes.captions.de import ARTICLES, ENDINGS, GENDERS, ORDINALS
from llmdiff.worlds.shapes.freeform.wording import Frames, Lexicon, Wording

NUMBERS = ("keine", "eine", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn")
STRONG = {"m": "er", "n": "es", "f": "e"}  # adjective endings with no article, nominative
KEIN_ACC = {"m": "keinen", "n": "kein", "f": "keine"}


def adjective(entry, ending: str) -> str:
    """A colour or size entry, declined: a stem, or (word, False) for indeclinable words like "lila"."""
    if isinstance(entry, tuple):
        return entry[0]
    return entry + ending


def predicative(entry) -> str:
    return entry[0] if isinstance(entry, tuple) else entry


def corner(v: str, h: str, compass: str, clock: str, clock_word: str) -> tuple[tuple[str, str], ...]:
    vertical = {"top": ("oben", "obere", "oberen"), "bottom": ("unten", "untere", "unteren")}[v]
    horizontal = {"left": ("links", "linke", "linken"), "right": ("rechts", "rechte", "rechten")}[h]
    return (
        (f"in der {horizontal[2]} {vertical[2]} Ecke", f"{horizontal[1]} {vertical[1]} Ecke"),
        (f"{vertical[0]} {horizontal[0]}", f"{vertical[0]} {horizontal[0]}"),
        (f"{horizontal[0]} {vertical[0]}", f"{horizontal[0]} {vertical[0]}"),
        (f"in der {vertical[2]} {horizontal[2]} Ecke", f"{vertical[1]} {horizontal[1]} Ecke"),
        (f"im {horizontal[2]} {vertical[2]} Viertel", f"{horizontal[1]}s {vertical[1]}s Viertel"),
        (f"in der {compass}ecke", compass),
        (f"auf {clock_word} Uhr", f"{clock} Uhr"),
        (f"ganz {vertical[0]} {horizontal[0]}", f"ganz {vertical[0]} {horizontal[0]}"),
        (f"{vertical[0]} auf der {horizontal[2]} Seite", f"{vertical[0]}, {horizontal[1]} Seite"),
        (f"in der {vertical[2]} Hälfte {horizontal[0]}", f"{vertical[1]} Hälfte, {horizontal[0]}"),
        (f"im {compass}en", f"{compass}en"),
    )


LEXICON = Lexicon(
    shapes={  # (noun, gender, plural)
        "circle": (("Kreis", "m", "Kreise"), ("Punkt", "m", "Punkte"), ("Scheibe", "f", "Scheiben"), ("Kugel", "f", "Kugeln"),
                   ("Ball", "m", "Bälle"), ("Kreisfläche", "f", "Kreisflächen")),
        "square": (("Quadrat", "n", "Quadrate"), ("Viereck", "n", "Vierecke"), ("Kästchen", "n", "Kästchen"), ("Würfel", "m", "Würfel"),
                   ("Block", "m", "Blöcke"), ("Kasten", "m", "Kästen"), ("Klotz", "m", "Klötze")),
        "triangle": (("Dreieck", "n", "Dreiecke"), ("Pyramide", "f", "Pyramiden"), ("Pfeilspitze", "f", "Pfeilspitzen"),
                     ("Delta", "n", "Deltas"), ("Dreieckchen", "n", "Dreieckchen")),
        "diamond": (("Raute", "f", "Rauten"), ("Rhombus", "m", "Rhomben")),
        "cross": (("Kreuz", "n", "Kreuze"), ("Pluszeichen", "n", "Pluszeichen"), ("Kreuzchen", "n", "Kreuzchen"),
                  ("Schweizerkreuz", "n", "Schweizerkreuze")),
        "star": (("Stern", "m", "Sterne"), ("Sternchen", "n", "Sternchen"), ("Fünfzack", "m", "Fünfzacke"),
                 ("Zackenstern", "m", "Zackensterne")),
    },
    colours={
        "red": ("rot", "knallrot", "feuerrot", "scharlachrot", "blutrot", "ziegelrot", "tomatenrot", "kirschrot",
                "mohnrot", "signalrot", "erdbeerrot", "leuchtend rot"),
        "green": ("grün", "grasgrün", "hellgrün", "smaragdgrün", "apfelgrün", "limettengrün", "waldgrün",
                  "froschgrün", "kleegrün", "knallgrün", "leuchtend grün"),
        "blue": ("blau", "königsblau", "kobaltblau", "ultramarinblau", "kornblumenblau", "ozeanblau", "enzianblau",
                 "knallblau", "leuchtend blau", "tiefblau"),
        "yellow": ("gelb", "zitronengelb", "sonnengelb", "bananengelb", "sonnenblumengelb", "knallgelb",
                   "leuchtend gelb", "dottergelb", "postgelb"),
        "purple": ("violett", ("lila", False), "purpurn", "pflaumenfarben", "leuchtend violett", "tiefviolett"),
        "orange": ("orangefarben", ("orange", False), ("karottenorange", False), ("kürbisorange", False),
                   ("knallorange", False), ("leuchtend orange", False)),
    },
    sizes={"small": ("klein", "winzig", "ziemlich klein", "klitzeklein", "sehr klein", "ganz klein", "winzig klein"),
           "large": ("groß", "riesig", "ziemlich groß", "sehr groß", "riesengroß", "enorm", "wuchtig", "massig")},
    backgrounds={"white": ("weiß", "schneeweiß", "reinweiß", "kreideweiß", "blütenweiß", "strahlend weiß", "ganz weiß"),
                 "gray": ("grau", "mittelgrau", "steingrau", "betongrau", "stahlgrau", "schiefergrau"),
                 "black": ("schwarz", "tiefschwarz", "kohlschwarz", "nachtschwarz", "rußschwarz", "ganz schwarz")},
    places={
        ("top", "left"): corner("top", "left", "Nordwest", "10", "zehn"),
        ("top", "right"): corner("top", "right", "Nordost", "2", "zwei"),
        ("bottom", "left"): corner("bottom", "left", "Südwest", "8", "acht"),
        ("bottom", "right"): corner("bottom", "right", "Südost", "4", "vier"),
        ("top", "centre"): (("in der Mitte der oberen Reihe", "obere Reihe Mitte"), ("oben in der Mitte", "oben Mitte"), ("auf zwölf Uhr", "12 Uhr"), ("im Norden", "Norden"),
                            ("mittig am oberen Rand", "oben mittig")),
        ("bottom", "centre"): (("in der Mitte der unteren Reihe", "untere Reihe Mitte"), ("unten in der Mitte", "unten Mitte"), ("auf sechs Uhr", "6 Uhr"), ("im Süden", "Süden"),
                               ("mittig am unteren Rand", "unten mittig")),
        ("middle", "left"): (("in der Mitte des linken Rands", "Mitte des linken Rands"), ("links in der Mitte", "Mitte links"), ("auf neun Uhr", "9 Uhr"), ("im Westen", "Westen"),
                             ("mittig am linken Rand", "links mittig")),
        ("middle", "right"): (("in der Mitte des rechten Rands", "Mitte des rechten Rands"), ("rechts in der Mitte", "Mitte rechts"), ("auf drei Uhr", "3 Uhr"), ("im Osten", "Osten"),
                              ("mittig am rechten Rand", "rechts mittig")),
        ("middle", "centre"): (("genau in der Mitte", "genau mittig"), ("in der Mitte", "Mitte"), ("im Zentrum", "Zentrum")),
    },
)

FRAMES = Frames(
    object=("{where} ist {nom}.", "{where} befindet sich {nom}.", "{where} sieht man {acc}.", "Es gibt {acc} {where}.",
            "{nom} {where}.", "{label}: {nom}.", "Ich sehe {acc} {where}.", "Dazu {nom} {where}.", "{where} liegt {nom}.",
            "{nom}, {where}.", "Und {where} {nom}.", "Zeichne {acc} {where}.", "{where} haben wir {acc}."),
    item=("{bare} {label}", "{bare}, {label}", "{label}: {bare}", "{bare} ({label})", "{tags}, {label}"),
    background=("Der Hintergrund ist {bg}.", "Hintergrund: {bg}.", "Alles auf {bg_dat} Hintergrund.",
                "Der Hintergrund ist ganz {bg}.", "Dahinter einfach {bg}."),
    background_item=("Hintergrund {bg}", "auf {bg_dat} Hintergrund", "vor {bg_dat} Hintergrund"),
    opening=("{count} auf {bg_dat} Hintergrund.", "Zu sehen: {count}.", "Eine einfache Zeichnung, {count}.",
             "{count} in einem Raster."),
    heading=("Formen:", "Objekte:", "Im Bild:", "Inhalt:"),
    closing=("Das ist alles.", "Sonst nichts.", "Mehr ist nicht zu sehen.", "Keine weiteren Formen."),
    negation_pair=("Es gibt {kein} {neg}.", "Ich sehe {kein} {neg}.", "Im Bild ist {kein_nom} {neg_nom}."),
    negation_shape=("Es gibt keine {plural}.", "Keine {plural}.", "Keine {plural} im Bild."),
    negation_colour=("Nichts ist {colour}.", "Nichts davon ist {colour}."),
    distractors=(
        "Meine Tochter hat das nach der Schule gemalt.", "Der Künstler hat es auf der Rückseite signiert.",
        "Die Stimmung ist ruhig und ein bisschen verspielt.", "Ich möchte es über meinen Schreibtisch hängen.",
        "Es war für eine Geburtstagskarte gedacht.", "Ehrlich gesagt sieht es aus wie ein Spielzeugkatalog.",
        "Das Bild ist für eine Folie über Geometrie.", "Es ist das dritte Bild einer Serie.",
        "Bitte keine Schatten und keine Verläufe.", "Das Bild soll quadratisch sein.",
        "Es soll sauber und flach aussehen.", "Es ist für ein Rätselheft für Kinder.",
        "Ich finde, das ist ein gutes Beispiel für Minimalismus.", "Kunstunterricht, dritte Woche.",
        "Das Original hängt in einer kleinen Galerie in Leipzig.", "In einem schmalen Holzrahmen sähe es schön aus.",
        "Der Rahmen gehört nicht zum Bild.", "Die Lehrerin sagt, es hilft beim Lernen der Farben.",
        "Es wurde in fünf Minuten auf einem Tablet gezeichnet.", "Mein Bruder meint, es sieht aus wie ein Brettspiel.",
    ),
)


@dataclass(frozen=True)
class German(Wording):
    def fields(self, obj, grid, rng):
        noun, gender, _ = rng.choice(self.lexicon.shapes[obj.shape])
        size, colour = rng.choice(self.lexicon.sizes[obj.size]), rng.choice(self.lexicon.colours[obj.colour])
        g = GENDERS[gender]
        where, label = self.place(obj, grid, rng)

        def phrase(case):
            ending = ENDINGS[(False, case)][g]
            return f"{ARTICLES[(False, case)][g]} {adjective(size, ending)} {adjective(colour, ending)} {noun}"

        strong = STRONG[gender]
        tags = f"{noun}, {predicative(colour)}, {predicative(size)}"
        return {"nom": phrase("nom"), "acc": phrase("acc"), "dat": phrase("dat"), "where": where, "label": label,
                "bare": f"{adjective(size, strong)} {adjective(colour, strong)} {noun}", "tags": tags}

    def grid_place(self, row, col, grid):
        text = f"in der {ORDINALS[row]} Reihe von oben und der {ORDINALS[col]} Spalte von links"
        return text, f"Reihe {row + 1}, Spalte {col + 1}"

    def background_fields(self, name, rng):
        bg = self.background(name, rng)
        return {"bg": predicative(bg), "bg_dat": adjective(bg, "em")}

    def count(self, n):
        word = NUMBERS[n] if n < len(NUMBERS) else str(n)
        return f"{word} {'Form' if n == 1 else 'Formen'}"

    def negation_fields(self, shape, colour, rng):
        fields = {"colour": predicative(rng.choice(self.lexicon.colours[colour])) if colour else ""}
        if shape:
            noun, gender, plural = rng.choice(self.lexicon.shapes[shape])
            fields["plural"] = plural
            if colour:
                entry = rng.choice(self.lexicon.colours[colour])
                g = GENDERS[gender]
                # After "kein" adjectives take the mixed endings of "ein"; accusative and nominative.
                fields["kein"] = KEIN_ACC[gender]
                fields["ein"] = KEIN_ACC[gender][1:]
                fields["neg"] = f"{adjective(entry, ENDINGS[(False, 'acc')][g])} {noun}"
                fields["kein_nom"] = {"m": "kein", "n": "kein", "f": "keine"}[gender]
                fields["neg_nom"] = f"{adjective(entry, ENDINGS[(False, 'nom')][g])} {noun}"
        return fields


WORDING = German(LEXICON, FRAMES, code="de", budget=220)
