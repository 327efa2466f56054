"""German wording no training caption uses: held-out synonyms, sentence frames, distractors, negations."""

from llmdiff.worlds.shapes.freeform.wording import Frames

SHAPES = {"circle": (("Tupfen", "m", "Tupfen"),), "square": (("Kachel", "f", "Kacheln"),),
          "triangle": (("Dreiecksform", "f", "Dreiecksformen"),), "diamond": (("Karo", "n", "Karos"),),
          "cross": (("Plus", "n", "Plusse"),), "star": (("Sternform", "f", "Sternformen"),)}
COLOURS = {"red": ("karminrot", "rubinrot"), "green": ("jadegrün", "blattgrün"), "blue": ("azurblau", "saphirblau"),
           "yellow": ("kanariengelb", "goldgelb"), "purple": ("amethystfarben", "veilchenfarben"),
           "orange": ("bernsteinfarben", "mandarinfarben")}
SIZES = {"small": ("zierlich", ("mini", False)), "large": ("gewaltig", "mächtig")}
BACKGROUNDS = {"white": ("elfenbeinfarben", "cremeweiß"), "gray": ("aschgrau",), "black": ("pechschwarz", "rabenschwarz")}
PLACES = {
    ("top", "left"): (("nach links oben versetzt", "nach links oben"), ("im nordwestlichen Bereich", "nordwestlicher Bereich")),
    ("top", "right"): (("nach rechts oben versetzt", "nach rechts oben"), ("im nordöstlichen Bereich", "nordöstlicher Bereich")),
    ("bottom", "left"): (("nach links unten versetzt", "nach links unten"), ("im südwestlichen Bereich", "südwestlicher Bereich")),
    ("bottom", "right"): (("nach rechts unten versetzt", "nach rechts unten"), ("im südöstlichen Bereich", "südöstlicher Bereich")),
    ("top", "centre"): (("am oberen Bildrand mittig", "oberer Bildrand, mittig"),),
    ("bottom", "centre"): (("am unteren Bildrand mittig", "unterer Bildrand, mittig"),),
    ("middle", "left"): (("am linken Bildrand auf halber Höhe", "linker Bildrand, halbe Höhe"),),
    ("middle", "right"): (("am rechten Bildrand auf halber Höhe", "rechter Bildrand, halbe Höhe"),),
    ("middle", "centre"): (("exakt mittig", "exakt mittig"), ("im Mittelpunkt", "Mittelpunkt")),
}

FRAMES = Frames(
    object=("{where} entdeckt man {acc}.", "{nom} wartet {where}.", "Schaut man genauer hin, fällt {where} {nom} auf.",
            "{where} thront {nom}.", "Wer genau hinsieht, findet {where} {acc}."),
    background=("Die Fläche dahinter ist durchgehend {bg}.", "Farbe des Hintergrunds: {bg}."),
    negation_pair=("{kein_nom} {neg_nom} weit und breit.", "{ein} {neg} sucht man vergeblich."),
    negation_shape=("{plural} gibt es hier nicht.", "{plural} fehlen ganz."),
    negation_colour=("Kein einziges Teil ist {colour}.",),
    distractors=(
        "Die Galerie schließt sonntags um sechs.", "Sie hat es in einer verregneten Woche im März gemalt.",
        "Ein Freund von mir sammelt solche Drucke.", "Das Papier riecht ein wenig nach Zedernholz.",
        "Gezeigt wurde es im letzten Frühjahr auf einem Schulfest.", "Ich habe es für zwölf Euro auf dem Flohmarkt gekauft.",
    ),
)
SHORT = ("{items} auf {bg_dat} Hintergrund", ", ", " und ")
