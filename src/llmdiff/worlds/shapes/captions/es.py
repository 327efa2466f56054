"""Spanish wording: gendered nouns, agreeing adjectives, "gran" before the noun, del/al."""

from __future__ import annotations

from llmdiff.worlds.shapes.captions.base import Language

SHAPES = {
    "circle": (("círculo", "m"),),
    "square": (("cuadrado", "m"),),
    "triangle": (("triángulo", "m"),),
    "diamond": (("rombo", "m"),),
    "cross": (("cruz", "f"),),
    "star": (("estrella", "f"),),
}
COLOURS = {"red": ("rojo", "roja"), "green": ("verde", "verde"), "blue": ("azul", "azul"),
           "yellow": ("amarillo", "amarilla"), "purple": ("morado", "morada"), "orange": ("naranja", "naranja")}
SIZES = {"small": ("pequeño", "pequeña"), "large": ("gran", "gran")}  # both before the noun
BACKGROUNDS = {"white": "blanco", "gray": "gris", "black": "negro"}
NUMBERS = ("ninguna", "una", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once",
           "doce", "trece", "catorce", "quince", "dieciséis")
ORDINALS = ("primera", "segunda", "tercera", "cuarta")  # of "fila" and "columna", both feminine
HALVES = {"top": "superior", "bottom": "inferior", "left": "izquierda", "right": "derecha"}
RELATIONS = {"left of": "a la izquierda", "right of": "a la derecha", "above": "justo encima", "below": "justo debajo"}


def cap(text: str) -> str:
    return text[0].upper() + text[1:]


def place(row: int, col: int, grid: int) -> str:
    if grid == 1:
        return "en el centro de la imagen"
    vertical, horizontal = ("superior", "inferior"), ("izquierda", "derecha")
    if grid == 2:
        return f"en la esquina {vertical[row]} {horizontal[col]}"
    if grid == 3:
        names = [["en la esquina superior izquierda", "en el centro de la fila superior", "en la esquina superior derecha"],
                 ["en el centro del borde izquierdo", "justo en el centro", "en el centro del borde derecho"],
                 ["en la esquina inferior izquierda", "en el centro de la fila inferior", "en la esquina inferior derecha"]]
        return names[row][col]
    return f"en la {ORDINALS[row]} fila desde arriba, {ORDINALS[col]} columna desde la izquierda"


def with_de(phrase: str) -> str:
    """ "de" + a definite phrase: del círculo, de la cruz."""
    return "del " + phrase[3:] if phrase.startswith("el ") else "de " + phrase


class Spanish(Language):
    code = "es"
    name = "español"
    fillers = (
        "Cada figura está dibujada en plano, de un solo color liso, sin contorno, sombra ni textura.",
        "Las figuras no se tocan ni se superponen; cada una ocupa su propia casilla de una cuadrícula invisible.",
        "No hay ningún texto en la imagen ni ningún marco alrededor de sus bordes.",
        "El estilo recuerda a una ilustración vectorial muy sencilla o a la página de un libro infantil.",
        "Ningún elemento proyecta sombra y la iluminación es perfectamente uniforme.",
        "Aparte de las figuras descritas aquí, el lienzo está completamente vacío.",
        "Los bordes de las figuras son nítidos y limpios, como si estuvieran recortados en papel de color.",
    )

    def noun_phrase(self, obj, rng, definite=False, with_size=True) -> str:
        noun, gender = rng.choice(SHAPES[obj.shape])
        f = gender == "f"
        words = f"{noun} {COLOURS[obj.colour][f]}"
        if with_size:
            words = f"{SIZES[obj.size][f]} {words}"
        article = ("la" if f else "el") if definite else ("una" if f else "un")
        return f"{article} {words}"

    def reference(self, scene, index, rng) -> str:
        obj = scene.objects[index]
        phrase = self.noun_phrase(obj, rng, definite=True, with_size=False)
        twins = [o for o in scene.objects if (o.shape, o.colour) == (obj.shape, obj.colour)]
        return phrase if len(twins) == 1 else f"{phrase} que está {place(obj.row, obj.col, scene.grid)}"

    def opening(self, scene, act, facts, rng):
        n, bg, g = facts["count"], BACKGROUNDS[scene.background], NUMBERS[scene.grid]
        g = "un" if g == "una" else g
        if n == 1:
            return rng.choice((
                f"Esta imagen muestra una sola figura geométrica sencilla sobre un fondo {bg}.",
                f"Sobre un lienzo {bg} hay una figura de color, colocada en una cuadrícula invisible de {g} por {g}.",
                f"Sobre un fondo {bg}, una única figura ocupa el encuadre.",
            ))
        return rng.choice((
            f"Esta imagen muestra {NUMBERS[n]} figuras geométricas sencillas sobre un fondo {bg}.",
            f"Sobre un lienzo {bg} hay {NUMBERS[n]} figuras de colores, colocadas en una cuadrícula invisible de {g} por {g}.",
            f"Sobre un fondo {bg}, {NUMBERS[n]} figuras se reparten por el encuadre.",
            f"La imagen es una composición mínima de {NUMBERS[n]} figuras sobre {bg}.",
        ))

    def background(self, scene, act, facts, rng):
        bg = BACKGROUNDS[scene.background]
        return rng.choice((
            f"El fondo es de un {bg} uniforme, sin degradados ni estampados.",
            f"Todo el fondo es {bg} liso, lo que hace resaltar los colores de las figuras.",
            f"Detrás de todo se extiende una superficie de color {bg} que llena la imagen entera.",
        ))

    def composition(self, scene, act, facts, rng):
        parts = []
        empty, cells = facts["empty"], NUMBERS[facts["cells"]]
        if empty == 1:
            parts.append(f"Una de las {cells} casillas de la cuadrícula está vacía.")
        elif empty:
            parts.append(f"{cap(NUMBERS[empty])} de las {cells} casillas de la cuadrícula están vacías.")
        else:
            parts.append("Todas las casillas de la cuadrícula están ocupadas.")
        if facts["heavier"]:
            parts.append(f"La mayor parte del peso visual se concentra en la mitad {HALVES[facts['heavier']]} de la imagen.")
        elif facts["count"] > 1:
            parts.append("Las figuras están repartidas de forma equilibrada.")
        if facts["centre"] is not None:
            parts.append("La casilla central está ocupada." if facts["centre"] else "La casilla central está vacía.")
        return " ".join(parts)

    def object(self, scene, act, facts, rng):
        obj = scene.objects[act.subject]
        np_, where = self.noun_phrase(obj, rng), place(obj.row, obj.col, scene.grid)
        if act.anchor is not None:
            anchor_gender = SHAPES[scene.objects[act.anchor].shape][0][1]
            if act.pronoun:
                pronoun = "ella" if anchor_gender == "f" else "él"
                lead = {"left of": "A su izquierda", "right of": "A su derecha", "above": f"Encima de {pronoun}",
                        "below": f"Debajo de {pronoun}"}[act.relation]
                if act.adjacent and rng.random() < 0.5:
                    return f"La figura de al lado, {where}, es {np_}."
                return f"{lead}, {where}, hay {np_}."
            ref = with_de(self.reference(scene, act.anchor, rng))
            return f"{cap(RELATIONS[act.relation])} {ref}, {where}, encontramos {np_}."
        return rng.choice((
            f"{cap(where)} hay {np_}.",
            f"{cap(np_)} se encuentra {where}.",
            f"Si nos fijamos {where}, vemos {np_}.",
            f"{cap(where)} aparece {np_}.",
        ) + ((f"Una de las figuras es {np_}, situada {where}.",) if facts["count"] > 1 else ()))

    def relation(self, scene, act, facts, rng):
        a = self.reference(scene, act.subject, rng)
        b = with_de(self.reference(scene, act.anchor, rng))
        return rng.choice((f"{cap(a)} está {RELATIONS[act.relation]} {b}.",
                           f"Conviene notar que {a} queda {RELATIONS[act.relation]} {b}."))

    def closing(self, scene, act, facts, rng):
        return rng.choice(("No hay nada más en la imagen.",
                           "No aparece ningún otro objeto, letra ni adorno.",
                           "Eso es todo lo que se ve."))

    def short(self, scene, order, rng, places):
        bg = BACKGROUNDS[scene.background]
        phrases = [self.noun_phrase(scene.objects[i], rng, with_size=len(order) <= 6) for i in order[:8]]
        if places:
            phrases = [f"{p} {place(*scene.objects[i].cell, scene.grid)}" for p, i in zip(phrases, order)]
        if len(order) > 8:
            phrases.append(f"{NUMBERS[len(order) - 8]} figuras más")
        listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " y " + phrases[-1]
        return rng.choice((f"{listed} sobre fondo {bg}", f"{listed} sobre un fondo {bg}",
                           f"ilustración sencilla: {listed}, fondo {bg}"))
