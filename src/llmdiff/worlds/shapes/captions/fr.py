"""French wording: gendered nouns, agreeing adjectives, elision and contracted articles."""

from __future__ import annotations

from llmdiff.worlds.shapes.captions.base import Language

SHAPES = {  # (noun, gender), synonyms
    "circle": (("cercle", "m"), ("disque", "m")),
    "square": (("carré", "m"),),
    "triangle": (("triangle", "m"),),
    "diamond": (("losange", "m"),),
    "cross": (("croix", "f"),),
    "star": (("étoile", "f"),),
}
COLOURS = {"red": ("rouge", "rouge"), "green": ("vert", "verte"), "blue": ("bleu", "bleue"),
           "yellow": ("jaune", "jaune"), "purple": ("violet", "violette"), "orange": ("orange", "orange")}
SIZES = {"small": ("petit", "petite"), "large": ("grand", "grande")}
BACKGROUNDS = {"white": ("blanc", "blanche"), "gray": ("gris", "grise"), "black": ("noir", "noire")}
NUMBERS = ("aucune", "une", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze",
           "douze", "treize", "quatorze", "quinze", "seize")
ORDINALS = ("première", "deuxième", "troisième", "quatrième")
HALVES = {"top": "supérieure", "bottom": "inférieure", "left": "gauche", "right": "droite"}
# Relation of subject to anchor, as a preposition taking "de" + the anchor.
RELATIONS = {"left of": "à gauche", "right of": "à droite", "above": "juste au-dessus", "below": "juste en dessous"}
PRONOUN_RELATIONS = {"left of": "À sa gauche", "right of": "À sa droite", "above": "Au-dessus", "below": "En dessous"}


def cap(text: str) -> str:
    return text[0].upper() + text[1:]


def place(row: int, col: int, grid: int) -> str:
    """A locative phrase: "dans le coin supérieur gauche"."""
    if grid == 1:
        return "au milieu de l'image"
    vertical, horizontal = ("supérieur", "inférieur"), ("gauche", "droit")
    if grid == 2:
        return f"dans le coin {vertical[row]} {horizontal[col]}"
    if grid == 3:
        names = [["dans le coin supérieur gauche", "au milieu de la rangée du haut", "dans le coin supérieur droit"],
                 ["au milieu du bord gauche", "en plein centre", "au milieu du bord droit"],
                 ["dans le coin inférieur gauche", "au milieu de la rangée du bas", "dans le coin inférieur droit"]]
        return names[row][col]
    return f"dans la {ORDINALS[row]} rangée en partant du haut, {ORDINALS[col]} colonne en partant de la gauche"


def with_de(phrase: str) -> str:
    """ "de" + a definite phrase, contracted: du cercle, de la croix, de l'étoile."""
    if phrase.startswith("le "):
        return "du " + phrase[3:]
    return "de " + phrase


class French(Language):
    code = "fr"
    name = "français"
    fillers = (
        "Chaque figure est dessinée à plat, d'une seule couleur unie, sans contour, ombre ni texture.",
        "Les formes ne se touchent pas et ne se chevauchent pas ; chacune reste dans sa propre case d'une grille invisible.",
        "On ne voit aucun texte dans l'image, ni aucun cadre sur ses bords.",
        "Le style rappelle une illustration vectorielle très simple ou une page de livre pour enfants.",
        "Aucun élément ne projette d'ombre, et l'éclairage est parfaitement uniforme.",
        "En dehors des formes décrites ici, la toile est entièrement vide.",
        "Les bords des formes sont nets et propres, comme découpés dans du papier de couleur.",
    )

    def noun_phrase(self, obj, rng, definite=False, with_size=True) -> str:
        noun, gender = rng.choice(SHAPES[obj.shape])
        f = gender == "f"
        colour = COLOURS[obj.colour][f]
        if with_size:
            words = f"{SIZES[obj.size][f]} {noun} {colour}"
        else:
            words = f"{noun} {colour}"
        if not definite:
            return f"{'une' if f else 'un'} {words}"
        if words[0] in "aeiouéèh":
            return f"l'{words}"
        return f"{'la' if f else 'le'} {words}"

    def reference(self, scene, index, rng) -> str:
        obj = scene.objects[index]
        phrase = self.noun_phrase(obj, rng, definite=True, with_size=False)
        twins = [o for o in scene.objects if (o.shape, o.colour) == (obj.shape, obj.colour)]
        return phrase if len(twins) == 1 else f"{phrase} situé{'e' if SHAPES[obj.shape][0][1] == 'f' else ''} {place(obj.row, obj.col, scene.grid)}"

    def opening(self, scene, act, facts, rng):
        n, (bg_m, bg_f), g = facts["count"], BACKGROUNDS[scene.background], NUMBERS[scene.grid]
        if n == 1:
            return rng.choice((
                f"Cette image montre une seule forme géométrique simple sur un fond {bg_m}.",
                f"Une toile {bg_f} accueille une figure colorée, posée sur une grille invisible de {g} cases sur {g}.",
                f"Sur un fond {bg_m}, une forme unique est placée dans le cadre.",
            ))
        return rng.choice((
            f"Cette image montre {NUMBERS[n]} formes géométriques simples sur un fond {bg_m}.",
            f"Une toile {bg_f} accueille {NUMBERS[n]} figures colorées, disposées sur une grille invisible de {g} cases sur {g}.",
            f"Sur un fond {bg_m}, {NUMBERS[n]} formes sont réparties dans le cadre.",
            f"L'image est une composition minimale de {NUMBERS[n]} formes sur du {bg_m}.",
        ))

    def background(self, scene, act, facts, rng):
        bg_m, _ = BACKGROUNDS[scene.background]
        return rng.choice((
            f"Le fond est d'un {bg_m} uniforme, sans dégradé ni motif.",
            f"L'arrière-plan, entièrement {bg_m}, fait ressortir les couleurs des formes.",
            f"Derrière les formes s'étend une surface {BACKGROUNDS[scene.background][1]} et unie qui remplit toute l'image.",
        ))

    def composition(self, scene, act, facts, rng):
        parts = []
        empty, cells = facts["empty"], NUMBERS[facts["cells"]]
        if empty == 1:
            parts.append(f"Une des {cells} cases de la grille est vide.")
        elif empty:
            parts.append(f"{cap(NUMBERS[empty])} des {cells} cases de la grille sont vides.")
        else:
            parts.append("Toutes les cases de la grille sont occupées.")
        if facts["heavier"]:
            parts.append(f"L'essentiel du poids visuel se trouve dans la moitié {HALVES[facts['heavier']]} de l'image.")
        elif facts["count"] > 1:
            parts.append("Les formes sont réparties de façon équilibrée.")
        if facts["centre"] is not None:
            parts.append("La case centrale est occupée." if facts["centre"] else "La case centrale est vide.")
        return " ".join(parts)

    def object(self, scene, act, facts, rng):
        obj = scene.objects[act.subject]
        np_, where = self.noun_phrase(obj, rng), place(obj.row, obj.col, scene.grid)
        if act.anchor is not None:
            if act.pronoun:
                if act.adjacent and rng.random() < 0.5:
                    return f"La forme voisine, {where}, est {np_}."
                return f"{PRONOUN_RELATIONS[act.relation]}, {where}, se trouve {np_}."
            ref = with_de(self.reference(scene, act.anchor, rng))
            return f"{cap(RELATIONS[act.relation])} {ref}, {where}, on trouve {np_}."
        return rng.choice((
            f"{cap(where)}, il y a {np_}.",
            f"{cap(np_)} se trouve {where}.",
            f"{cap(where)}, on aperçoit {np_}.",
            f"{cap(where)} se trouve {np_}.",
        ) + ((f"L'une des formes est {np_}, placée {where}.",) if facts["count"] > 1 else ()))

    def relation(self, scene, act, facts, rng):
        a = self.reference(scene, act.subject, rng)
        b = with_de(self.reference(scene, act.anchor, rng))
        return rng.choice((f"{cap(a)} est {RELATIONS[act.relation]} {b}.",
                           f"On remarque que {a} se trouve {RELATIONS[act.relation]} {b}."))

    def closing(self, scene, act, facts, rng):
        return rng.choice(("Il n'y a rien d'autre dans l'image.",
                           "Aucun autre objet, texte ou décor n'apparaît nulle part.",
                           "C'est tout ce que l'on voit."))

    def short(self, scene, order, rng, places):
        bg_m, _ = BACKGROUNDS[scene.background]
        phrases = [self.noun_phrase(scene.objects[i], rng, with_size=len(order) <= 6) for i in order[:8]]
        if places:
            phrases = [f"{p} {place(*scene.objects[i].cell, scene.grid)}" for p, i in zip(phrases, order)]
        if len(order) > 8:
            phrases.append(f"{NUMBERS[len(order) - 8]} autres formes")
        listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " et " + phrases[-1]
        return rng.choice((f"{listed} sur fond {bg_m}", f"{listed} sur un fond {bg_m}",
                           f"illustration simple : {listed}, fond {bg_m}"))
