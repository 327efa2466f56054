"""French wording no training caption uses: held-out synonyms, sentence frames, distractors, negations."""

from llmdiff.worlds.shapes.freeform.wording import Frames

SHAPES = {"circle": (("pastille", "f", "pastilles"),), "square": (("carreau", "m", "carreaux"),),
          "cross": (("croix grecque", "f", "croix grecques"),)}
COLOURS = {"red": (("cramoisi", "cramoisie"), ("vermillon", "vermillon")), "green": (("vert jade", "vert jade"),),
           "blue": (("azur", "azur"), ("bleu saphir", "bleu saphir")),
           "yellow": (("jaune canari", "jaune canari"), ("jaune moutarde", "jaune moutarde")),
           "purple": (("améthyste", "améthyste"),), "orange": (("ambré", "ambrée"), ("mandarine", "mandarine"))}
SIZES = {"small": (("minuscule", "minuscule"),), "large": (("énorme", "énorme"), ("immense", "immense"))}
BACKGROUNDS = {"white": ("ivoire", "crème"), "gray": ("gris cendre",), "black": ("noir de jais", "noir d'encre")}
PLACES = {
    ("top", "left"): (("tout là-haut à gauche", "là-haut à gauche"), ("vers le nord-ouest", "vers le nord-ouest")),
    ("top", "right"): (("tout là-haut à droite", "là-haut à droite"), ("vers le nord-est", "vers le nord-est")),
    ("bottom", "left"): (("tout en bas sur la gauche", "tout en bas, gauche"), ("vers le sud-ouest", "vers le sud-ouest")),
    ("bottom", "right"): (("tout en bas sur la droite", "tout en bas, droite"), ("vers le sud-est", "vers le sud-est")),
    ("top", "centre"): (("tout là-haut, à mi-largeur", "là-haut, mi-largeur"),),
    ("bottom", "centre"): (("tout en bas, à mi-largeur", "tout en bas, mi-largeur"),),
    ("middle", "left"): (("contre le bord gauche, à mi-hauteur", "bord gauche, mi-hauteur"),),
    ("middle", "right"): (("contre le bord droit, à mi-hauteur", "bord droit, mi-hauteur"),),
    ("middle", "centre"): (("exactement au milieu", "exactement au milieu"),),
}

FRAMES = Frames(
    object=("{where}, l'œil découvre {np}.", "{where} se dresse {np}.", "Si l'on regarde {where}, on distingue {np}.",
            "{np} trône {where}.", "{where} repose {np}."),
    background=("Le fond, derrière, est entièrement {bg}.", "Couleur du fond : {bg}."),
    negation_pair=("On chercherait en vain {un_neg}.", "Aucune trace {neg_de}."),
    negation_shape=("Aucune trace {plural_de}.", "On chercherait en vain {un_shape}."),
    negation_colour=("Pas la moindre forme {colour_f}.",),
    distractors=(
        "La galerie ferme à six heures le dimanche.", "Elle l'a peint pendant une semaine pluvieuse de mars.",
        "Un ami collectionne ce genre d'estampes.", "Le papier sent un peu le cèdre.",
        "On l'a montré à une fête d'école au printemps dernier.", "Je l'ai acheté douze euros dans une brocante.",
    ),
)
SHORT = ("{items} sur fond {bg}", ", ", " et ")
