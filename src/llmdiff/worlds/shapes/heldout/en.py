"""English wording no training caption uses: held-out synonyms, sentence frames, distractors, negations."""

from llmdiff.worlds.shapes.freeform.wording import Frames

SHAPES = {"circle": ("orb", "spot"), "square": ("tile",), "triangle": ("wedge", "trigon"), "diamond": ("lozenge",),
          "cross": ("Greek cross",), "star": ("pentagram",)}
COLOURS = {"red": ("crimson", "ruby"), "green": ("jade", "kelly green"), "blue": ("azure", "cerulean"),
           "yellow": ("canary yellow", "daffodil"), "purple": ("amethyst", "orchid"), "orange": ("amber", "marigold")}
SIZES = {"small": ("petite", "teeny", "wee"), "large": ("giant", "jumbo", "hefty")}
BACKGROUNDS = {"white": ("ivory", "milky"), "gray": ("ash",), "black": ("ebony", "inky", "pitch-dark")}
PLACES = {
    ("top", "left"): (("up and to the left", "up and left"), ("toward the northwest", "northwesterly")),
    ("top", "right"): (("up and to the right", "up and right"), ("toward the northeast", "northeasterly")),
    ("bottom", "left"): (("down and to the left", "down and left"), ("toward the southwest", "southwesterly")),
    ("bottom", "right"): (("down and to the right", "down and right"), ("toward the southeast", "southeasterly")),
    ("top", "centre"): (("up top, halfway across", "up top"),),
    ("bottom", "centre"): (("down low, halfway across", "down low"),),
    ("middle", "left"): (("against the left edge, halfway up", "left edge, halfway up"),),
    ("middle", "right"): (("against the right edge, halfway up", "right edge, halfway up"),),
    ("middle", "centre"): (("smack in the middle", "smack in the middle"), ("at the midpoint", "midpoint")),
}

FRAMES = Frames(
    object=("{np} can be spotted {where}.", "Look {where} and you'll notice {np}.", "Resting {where} is {np}.",
            "Someone has drawn {np} {where}.", "Glance {where}: {np} awaits."),
    background=("The canvas behind them is entirely {bg}.", "As for the backdrop, it's {bg} throughout."),
    negation_pair=("You won't find any {neg} here.", "Not a single {neg} appears."),
    negation_shape=("You won't find any {plural} here.", "Absent from the picture: {plural}."),
    negation_colour=("None of the shapes is {colour}.", "Absent from the picture: anything {colour}."),
    distractors=(
        "The gallery closes at six on Sundays.", "She painted it during a rainy week in March.",
        "A friend of mine collects prints like this one.", "The paper has a faint smell of cedar.",
        "It was shown at a school fair last spring.", "There's a story behind it involving a lost cat.",
        "Whoever designed it clearly enjoyed symmetry.", "I bought it for twelve euros at a flea market.",
    ),
)
SHORT = ("{items} on {a_bg} background", ", ", " and ")
"""The world's own short-caption frame, where held-out synonyms are measured: the frame is known, the words not."""
