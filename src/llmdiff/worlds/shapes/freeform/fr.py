"""French in a person's own words: the training lexicon and frames (nouns carry gender and plural;
adjectives their masculine and feminine forms; sizes go before the noun, colours after)."""

from __future__ import annotations

from dataclasses import dataclass

from llmdiff.worlds.shapes.captions.fr import ORDINALS
from llmdiff.worlds.shapes.freeform.wording import Frames, Lexicon, Wording

NUMBERS = ("aucune", "une", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix")


def de(word: str) -> str:
    """ "de" before a word, elided before a vowel or mute h."""
    return f"d'{word}" if word[:1].lower() in "aeiouéèêh" else f"de {word}"


def corner(v: str, h: str, compass: str, clock: str, clock_word: str) -> tuple[tuple[str, str], ...]:
    haut = {"top": "haut", "bottom": "bas"}[v]
    sup = {"top": "supérieur", "bottom": "inférieur"}[v]
    side = {"left": "gauche", "right": "droite"}[h]
    droit = {"left": "gauche", "right": "droit"}[h]
    return (
        (f"dans le coin {sup} {droit}", f"coin {sup} {droit}"),
        (f"en {haut} à {side}", f"en {haut} à {side}"),
        (f"dans le coin en {haut} à {side}", f"coin {haut} {side}"),
        (f"dans le quart {sup} {droit}", f"quart {sup} {droit}"),
        (f"au {compass}", compass),
        (f"à {clock_word} heures", f"{clock} h"),
        (f"près du {haut}, à {side}", f"{haut} {side}"),
        (f"dans la partie {sup}e {side}", f"partie {sup}e {side}"),
        (f"en {haut}, côté {side}", f"{haut}, côté {side}"),
        (f"dans la zone en {haut} à {side}", f"zone {haut} {side}"),
    )


LEXICON = Lexicon(
    shapes={  # (noun, gender, plural)
        "circle": (("cercle", "m", "cercles"), ("rond", "m", "ronds"), ("disque", "m", "disques"), ("point", "m", "points"),
                   ("boule", "f", "boules"), ("forme ronde", "f", "formes rondes"), ("bulle", "f", "bulles")),
        "square": (("carré", "m", "carrés"), ("bloc", "m", "blocs"), ("cube", "m", "cubes"), ("pavé", "m", "pavés"),
                   ("forme carrée", "f", "formes carrées")),
        "triangle": (("triangle", "m", "triangles"), ("pyramide", "f", "pyramides"),
                     ("forme triangulaire", "f", "formes triangulaires"), ("pointe de flèche", "f", "pointes de flèche")),
        "diamond": (("losange", "m", "losanges"),),
        "cross": (("croix", "f", "croix"), ("signe plus", "m", "signes plus"), ("croix suisse", "f", "croix suisses"),
                  ("symbole plus", "m", "symboles plus")),
        "star": (("étoile", "f", "étoiles"), ("étoile à cinq branches", "f", "étoiles à cinq branches"),
                 ("forme d'étoile", "f", "formes d'étoile")),
    },
    colours={  # (masculine, feminine)
        "red": (("rouge", "rouge"), ("écarlate", "écarlate"), ("rouge vif", "rouge vif"), ("rouge cerise", "rouge cerise"),
                ("rouge sang", "rouge sang"), ("rouge brique", "rouge brique"), ("rouge tomate", "rouge tomate"),
                ("rouge coquelicot", "rouge coquelicot"), ("rouge fraise", "rouge fraise"), ("rouge feu", "rouge feu"),
                ("rouge pompier", "rouge pompier"), ("rouge éclatant", "rouge éclatant")),
        "green": (("vert", "verte"), ("vert vif", "vert vif"), ("vert émeraude", "vert émeraude"),
                  ("vert pomme", "vert pomme"), ("vert gazon", "vert gazon"), ("vert prairie", "vert prairie"),
                  ("vert trèfle", "vert trèfle"), ("vert éclatant", "vert éclatant"), ("vert forêt", "vert forêt")),
        "blue": (("bleu", "bleue"), ("bleu roi", "bleu roi"), ("bleu cobalt", "bleu cobalt"),
                 ("bleu outremer", "bleu outremer"), ("bleu électrique", "bleu électrique"), ("bleu franc", "bleu franc"),
                 ("bleu océan", "bleu océan"), ("bleu vif", "bleu vif"), ("bleu bleuet", "bleu bleuet")),
        "yellow": (("jaune", "jaune"), ("jaune citron", "jaune citron"), ("jaune d'or", "jaune d'or"),
                   ("jaune soleil", "jaune soleil"), ("jaune banane", "jaune banane"), ("jaune vif", "jaune vif"),
                   ("jaune tournesol", "jaune tournesol"), ("jaune poussin", "jaune poussin"),
                   ("jaune éclatant", "jaune éclatant")),
        "purple": (("violet", "violette"), ("violet vif", "violet vif"), ("pourpre", "pourpre"),
                   ("violet prune", "violet prune"), ("violet raisin", "violet raisin"), ("violet profond", "violet profond")),
        "orange": (("orange", "orange"), ("orangé", "orangée"), ("orange vif", "orange vif"),
                   ("orange carotte", "orange carotte"), ("orange citrouille", "orange citrouille"),
                   ("orange brûlé", "orange brûlé"), ("orange éclatant", "orange éclatant")),
    },
    sizes={"small": (("petit", "petite"), ("tout petit", "toute petite"), ("très petit", "très petite"),
                     ("infime", "infime")),
           "large": (("grand", "grande"), ("gros", "grosse"), ("très grand", "très grande"), ("très gros", "très grosse"),
                     ("gigantesque", "gigantesque"), ("vaste", "vaste"), ("colossal", "colossale"))},
    backgrounds={"white": ("blanc", "tout blanc", "blanc pur", "blanc éclatant", "blanc neige", "blanc craie"),
                 "gray": ("gris", "gris moyen", "gris ardoise", "gris acier", "gris pierre"),
                 "black": ("noir", "tout noir", "noir profond", "noir charbon", "noir total", "noir nuit")},
    places={
        ("top", "left"): corner("top", "left", "nord-ouest", "10", "dix"),
        ("top", "right"): corner("top", "right", "nord-est", "2", "deux"),
        ("bottom", "left"): corner("bottom", "left", "sud-ouest", "8", "huit"),
        ("bottom", "right"): corner("bottom", "right", "sud-est", "4", "quatre"),
        ("top", "centre"): (("au milieu de la rangée du haut", "milieu de la rangée du haut"), ("en haut au milieu", "haut milieu"), ("à douze heures", "12 h"), ("au nord", "nord"),
                            ("en haut, centré", "haut centre")),
        ("bottom", "centre"): (("au milieu de la rangée du bas", "milieu de la rangée du bas"), ("en bas au milieu", "bas milieu"), ("à six heures", "6 h"), ("au sud", "sud"),
                               ("en bas, centré", "bas centre")),
        ("middle", "left"): (("au milieu du bord gauche", "milieu du bord gauche"), ("à gauche au milieu", "milieu gauche"),
                             ("à neuf heures", "9 h"), ("à l'ouest", "ouest")),
        ("middle", "right"): (("au milieu du bord droit", "milieu du bord droit"), ("à droite au milieu", "milieu droite"),
                              ("à trois heures", "3 h"), ("à l'est", "est")),
        ("middle", "centre"): (("en plein centre", "plein centre"), ("au centre", "centre"), ("en plein milieu", "milieu"), ("pile au milieu", "pile au centre")),
    },
)

FRAMES = Frames(
    object=("Il y a {np} {where}.", "{where}, {np}.", "{np} {where}.", "{label} : {np}.", "On voit {np} {where}.",
            "Je vois {np} {where}.", "{where}, il y a {np}.", "Et {np} {where}.", "{np} se trouve {where}.",
            "Dessine {np} {where}.", "Puis {np} {where}."),
    item=("{bare} {label}", "{bare}, {label}", "{label} : {bare}", "{bare} ({label})", "{tags}, {label}"),
    background=("Le fond est {bg}.", "Fond {bg}.", "Le tout sur fond {bg}.", "Sur fond {bg}.", "L'arrière-plan est {bg}."),
    background_item=("fond {bg}", "sur fond {bg}", "arrière-plan {bg}"),
    opening=("{count} sur fond {bg}.", "Une image avec {count}.", "Dessin simple : {count}.", "Voici {count}."),
    heading=("Formes :", "Objets :", "Dans l'image :", "Contenu :"),
    closing=("C'est tout.", "Rien d'autre.", "Il n'y a rien d'autre.", "Pas d'autres formes."),
    negation_pair=("Il n'y a pas {neg_de}.", "Pas {neg_de}.", "Il n'y a {aucun_neg}."),
    negation_shape=("Pas {plural_de}.", "Il n'y a pas {plural_de}.", "Il n'y a {aucun_shape}."),
    negation_colour=("Rien n'est {colour}.", "Rien {colour_de}.", "Aucune forme n'est {colour_f}."),
    distractors=(
        "Ma fille l'a dessiné après l'école.", "L'artiste l'a signé au dos.", "L'ambiance est calme et un peu ludique.",
        "J'aimerais l'accrocher au-dessus de mon bureau.", "C'était pour une carte d'anniversaire.",
        "Franchement, on dirait un catalogue de jouets.", "C'est pour une diapositive sur la géométrie.",
        "C'est la troisième image d'une série.", "Pas d'ombres ni de dégradés, s'il vous plaît.",
        "L'image doit être carrée.", "Le rendu doit être net et plat.", "C'est pour un cahier de jeux pour enfants.",
        "Je trouve que c'est un bel exemple de minimalisme.", "Cours d'arts plastiques, troisième semaine.",
        "L'original est exposé dans une petite galerie à Lyon.", "Ce serait joli dans un cadre en bois fin.",
        "Le cadre ne fait pas partie de l'image.", "La maîtresse dit que ça aide à apprendre les couleurs.",
        "Il a été dessiné sur une tablette en cinq minutes.", "Mon frère trouve que ça ressemble à un jeu de société.",
    ),
)


@dataclass(frozen=True)
class French(Wording):
    def fields(self, obj, grid, rng):
        noun, gender, _ = rng.choice(self.lexicon.shapes[obj.shape])
        f = gender == "f"
        size = rng.choice(self.lexicon.sizes[obj.size])[f]
        colour = rng.choice(self.lexicon.colours[obj.colour])[f]
        where, label = self.place(obj, grid, rng)
        bare = f"{size} {noun} {colour}"
        return {"np": f"{'une' if f else 'un'} {bare}", "bare": bare, "where": where, "label": label,
                "tags": f"{noun}, {colour}, {size}"}

    def grid_place(self, row, col, grid):
        text = f"{ORDINALS[row]} rangée en partant du haut, {ORDINALS[col]} colonne en partant de la gauche"
        return f"dans la {text}", text

    def background_fields(self, name, rng):
        return {"bg": self.background(name, rng)}

    def count(self, n):
        word = NUMBERS[n] if n < len(NUMBERS) else str(n)
        return f"{word} {'forme' if n == 1 else 'formes'}"

    def negation_fields(self, shape, colour, rng):
        fields = {}
        if colour:
            masculine, feminine = rng.choice(self.lexicon.colours[colour])
            fields.update(colour=masculine, colour_de=de(masculine), colour_f=feminine)
        if shape:
            noun, gender, plural = rng.choice(self.lexicon.shapes[shape])
            f = gender == "f"
            aucun = "aucune" if f else "aucun"
            un = "une" if f else "un"
            fields.update(plural_de=de(plural), aucun_shape=f"{aucun} {noun}", un_shape=f"{un} {noun}")
            if colour:
                pair = f"{noun} {rng.choice(self.lexicon.colours[colour])[f]}"
                fields.update(neg_de=de(pair), aucun_neg=f"{aucun} {pair}", un_neg=f"{un} {pair}")
        return fields


WORDING = French(LEXICON, FRAMES, code="fr", budget=220)
