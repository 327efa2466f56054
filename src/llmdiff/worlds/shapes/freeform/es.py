"""Spanish in a person's own words: the training lexicon and frames (nouns carry gender and plural;
adjectives their masculine and feminine forms; sizes go before the noun, colours after)."""

from __future__ import annotations

from dataclasses import dataclass

from llmdiff.worlds.shapes.captions.es import ORDINALS
from llmdiff.worlds.shapes.freeform.wording import Frames, Lexicon, Wording

NUMBERS = ("ninguna", "una", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez")


def corner(v: str, h: str, compass: str, clock: str, clock_word: str) -> tuple[tuple[str, str], ...]:
    arriba = {"top": "arriba", "bottom": "abajo"}[v]
    sup = {"top": "superior", "bottom": "inferior"}[v]
    side = {"left": "izquierda", "right": "derecha"}[h]
    sided = {"left": "izquierdo", "right": "derecho"}[h]
    return (
        (f"en la esquina {sup} {side}", f"esquina {sup} {side}"),
        (f"{arriba} a la {side}", f"{arriba} a la {side}"),
        (f"en el cuadrante {sup} {sided}", f"cuadrante {sup} {sided}"),
        (f"al {compass}", compass),
        (f"a las {clock_word}", f"las {clock} en punto"),
        (f"cerca de {arriba}, a la {side}", f"{arriba} {side}"),
    )


LEXICON = Lexicon(
    shapes={  # (noun, gender, plural)
        "circle": (("círculo", "m", "círculos"), ("disco", "m", "discos"), ("punto", "m", "puntos")),
        "square": (("cuadrado", "m", "cuadrados"), ("cuadro", "m", "cuadros")),
        "triangle": (("triángulo", "m", "triángulos"),),
        "diamond": (("rombo", "m", "rombos"), ("diamante", "m", "diamantes")),
        "cross": (("cruz", "f", "cruces"), ("signo más", "m", "signos más")),
        "star": (("estrella", "f", "estrellas"),),
    },
    colours={  # (masculine, feminine)
        "red": (("rojo", "roja"), ("escarlata", "escarlata"), ("colorado", "colorada"), ("rojo vivo", "roja viva")),
        "green": (("verde", "verde"), ("verde esmeralda", "verde esmeralda"), ("verde vivo", "verde viva")),
        "blue": (("azul", "azul"), ("azul rey", "azul rey"), ("azul cobalto", "azul cobalto")),
        "yellow": (("amarillo", "amarilla"), ("amarillo limón", "amarillo limón"), ("dorado", "dorada")),
        "purple": (("morado", "morada"), ("violeta", "violeta")),
        "orange": (("naranja", "naranja"), ("anaranjado", "anaranjada")),
    },
    sizes={"small": (("pequeño", "pequeña"), ("chiquito", "chiquita")), "large": (("gran", "gran"), ("enorme", "enorme"))},
    backgrounds={"white": ("blanco", "blanco puro"), "gray": ("gris",), "black": ("negro", "negro intenso")},
    places={
        ("top", "left"): corner("top", "left", "noroeste", "10", "diez"),
        ("top", "right"): corner("top", "right", "noreste", "2", "dos"),
        ("bottom", "left"): corner("bottom", "left", "suroeste", "8", "ocho"),
        ("bottom", "right"): corner("bottom", "right", "sureste", "4", "cuatro"),
        ("top", "centre"): (("en el centro de la fila superior", "centro de la fila superior"), ("arriba en el centro", "arriba centro"), ("a las doce", "las 12 en punto"), ("al norte", "norte")),
        ("bottom", "centre"): (("en el centro de la fila inferior", "centro de la fila inferior"), ("abajo en el centro", "abajo centro"), ("a las seis", "las 6 en punto"), ("al sur", "sur")),
        ("middle", "left"): (("en el centro del borde izquierdo", "centro del borde izquierdo"), ("a la izquierda en el medio", "medio izquierda"), ("a las nueve", "las 9 en punto"),
                             ("al oeste", "oeste")),
        ("middle", "right"): (("en el centro del borde derecho", "centro del borde derecho"), ("a la derecha en el medio", "medio derecha"), ("a las tres", "las 3 en punto"), ("al este", "este")),
        ("middle", "centre"): (("justo en el centro", "justo en el centro"), ("en el centro", "centro"), ("justo en medio", "en medio")),
    },
)

FRAMES = Frames(
    object=("Hay {np} {where}.", "{where}, {np}.", "{np} {where}.", "{label}: {np}.", "Se ve {np} {where}.",
            "Veo {np} {where}.", "{where} hay {np}.", "Y {np} {where}.", "{np} está {where}.", "Dibuja {np} {where}.",
            "Luego {np} {where}."),
    item=("{bare} {label}", "{bare}, {label}", "{label}: {bare}", "{bare} ({label})", "{tags}, {label}"),
    background=("El fondo es {bg}.", "Fondo {bg}.", "Todo sobre fondo {bg}.", "Sobre fondo {bg}."),
    background_item=("fondo {bg}", "sobre fondo {bg}", "con fondo {bg}"),
    opening=("{count} sobre fondo {bg}.", "Una imagen con {count}.", "Dibujo sencillo: {count}.", "Aquí hay {count}."),
    heading=("Figuras:", "Objetos:", "En la imagen:", "Contenido:"),
    closing=("Eso es todo.", "Nada más.", "No hay nada más.", "No hay otras figuras."),
    negation_pair=("No hay {ningun} {neg}.", "{ningun} {neg}.", "No aparece {ningun} {neg}."),
    negation_shape=("No hay {plural}.", "Nada de {plural}.", "No hay {ningun} {shape}."),
    negation_colour=("Nada es {colour}.", "No hay nada {colour}."),
    distractors=(
        "Mi hija lo dibujó después del colegio.", "El artista lo firmó por detrás.", "El ambiente es tranquilo y algo juguetón.",
        "Me gustaría colgarlo encima de mi escritorio.", "Era para una tarjeta de cumpleaños.",
        "Sinceramente, parece un catálogo de juguetes.", "Es para una diapositiva sobre geometría.",
        "Es la tercera imagen de una serie.", "Sin sombras ni degradados, por favor.", "La imagen debe ser cuadrada.",
        "Tiene que verse limpio y plano.", "Es para un cuaderno de juegos infantil.",
        "Creo que es un buen ejemplo de minimalismo.", "Clase de arte, tercera semana.",
        "El original cuelga en una pequeña galería de Sevilla.", "Quedaría bonito en un marco fino de madera.",
        "El marco no forma parte de la imagen.", "La maestra dice que ayuda a aprender los colores.",
        "Se dibujó en una tableta en cinco minutos.", "Mi hermano dice que parece un juego de mesa.",
    ),
)


@dataclass(frozen=True)
class Spanish(Wording):
    def fields(self, obj, grid, rng):
        noun, gender, _ = rng.choice(self.lexicon.shapes[obj.shape])
        f = gender == "f"
        size = rng.choice(self.lexicon.sizes[obj.size])[f]
        colour = rng.choice(self.lexicon.colours[obj.colour])[f]
        where, label = self.place(obj, grid, rng)
        bare = f"{size} {noun} {colour}"
        return {"np": f"{'una' if f else 'un'} {bare}", "bare": bare, "where": where, "label": label,
                "tags": f"{noun}, {colour}, {'grande' if size == 'gran' else size}"}

    def grid_place(self, row, col, grid):
        text = f"{ORDINALS[row]} fila desde arriba, {ORDINALS[col]} columna desde la izquierda"
        return f"en la {text}", text

    def background_fields(self, name, rng):
        return {"bg": self.background(name, rng)}

    def count(self, n):
        word = NUMBERS[n] if n < len(NUMBERS) else str(n)
        return f"{word} {'figura' if n == 1 else 'figuras'}"

    def negation_fields(self, shape, colour, rng):
        fields = {}
        if colour:
            fields["colour"] = rng.choice(self.lexicon.colours[colour])[0]
        if shape:
            noun, gender, plural = rng.choice(self.lexicon.shapes[shape])
            f = gender == "f"
            fields.update(plural=plural, shape=noun, ningun="ninguna" if f else "ningún")
            if colour:
                fields["neg"] = f"{noun} {rng.choice(self.lexicon.colours[colour])[f]}"
        return fields


WORDING = Spanish(LEXICON, FRAMES, code="es", budget=220)
