"""What a language needs to describe a scene in a person's own words: a lexicon and families of frames.

A `Lexicon` lists, per attribute value, every word or phrase a caption may use for it; a `Frames` lists, per
part of a description, sentence and phrase templates. A language (`Wording`) turns them into text with its
own grammar (articles, gender, case). Training wording and held-out wording are different `Lexicon` and
`Frames` values of the same languages, so the grammar is shared and the words are not.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

from llmdiff.worlds.shapes.scene import SceneObject

Region = tuple[str, str]
"""(vertical, horizontal): ("top" | "middle" | "bottom", "left" | "centre" | "right")."""


def region(row: int, col: int, grid: int) -> Region | None:
    """The named region of a cell, or None where no region name is exact (the inner cells of a 4x4 grid)."""
    def side(index: int, names: tuple[str, str, str]) -> str | None:
        if grid == 1:
            return names[1]
        if index == 0:
            return names[0]
        if index == grid - 1:
            return names[2]
        return names[1] if grid == 3 else None

    vertical, horizontal = side(row, ("top", "middle", "bottom")), side(col, ("left", "centre", "right"))
    return None if vertical is None or horizontal is None else (vertical, horizontal)


@dataclass(frozen=True)
class Lexicon:
    """Per attribute value, the words a caption may choose from. Entries are language-shaped: a string, or a
    tuple carrying grammar (a noun with its gender and plural, an adjective's masculine and feminine forms)."""

    shapes: Mapping[str, tuple]
    colours: Mapping[str, tuple]
    sizes: Mapping[str, tuple]
    backgrounds: Mapping[str, tuple]
    places: Mapping[Region, tuple[tuple[str, str], ...]]
    """Per region, (prepositional phrase, bare label) pairs: ("in the top left corner", "top left")."""

    def plain(self) -> Lexicon:
        """Only the first word of every list: the most ordinary one, the word the world's own captions use."""
        return self._each_list(lambda entries: entries[:1])

    def taught(self) -> Lexicon:
        """Every word but the plainest of each value (the plainest alone where a value has no other)."""
        return self._each_list(lambda entries: entries[1:] or entries)

    def _each_list(self, keep) -> Lexicon:
        def table(values):
            return {key: keep(entries) for key, entries in values.items()}

        return Lexicon(table(self.shapes), table(self.colours), table(self.sizes), table(self.backgrounds),
                       table(self.places))

    def surface_words(self) -> dict[str, set[str]]:
        """Per category, every surface form (lower-cased) this lexicon can put into a caption."""
        def forms(entry) -> set[str]:
            if isinstance(entry, str):
                return {entry.lower()}
            # A noun with its gender and plural, an adjective's two forms, a place's phrase and label;
            # one-letter parts are grammatical marks ("m", "f"), not words.
            return {entry[0].lower()} | {part.lower() for part in entry[1:] if isinstance(part, str) and len(part) > 1}

        found = {}
        for name in ("shapes", "colours", "sizes", "backgrounds", "places"):
            found[name] = {form for entries in getattr(self, name).values() for entry in entries
                           for form in forms(entry)}
        return found


@dataclass(frozen=True)
class Frames:
    """Templates, per part of a description. Placeholders are filled from a language's fields:
    {np} an indefinite noun phrase (German adds {acc} and {dat}), {bare} the phrase without article, {where}
    a prepositional place, {label} a bare place, {bg} the background, {count} how many shapes, {tags} the
    attributes as a comma list."""

    object: tuple[str, ...]
    """One sentence per object."""
    item: tuple[str, ...] = ()
    """One list item per object (alt-text and list styles)."""
    background: tuple[str, ...] = ()
    """A sentence naming the background."""
    background_item: tuple[str, ...] = ()
    """The background as a list item or phrase ("white background", "on black")."""
    opening: tuple[str, ...] = ()
    """A first sentence saying how many shapes and on what."""
    heading: tuple[str, ...] = ()
    """A first line of a list ("Shapes:")."""
    closing: tuple[str, ...] = ()
    negation_pair: tuple[str, ...] = ()
    """ "There is no {neg}." with {neg} an absent colour and shape."""
    negation_shape: tuple[str, ...] = ()
    """ "No {plural}." with {plural} an absent shape."""
    negation_colour: tuple[str, ...] = ()
    """ "Nothing {colour}." with {colour} a colour no object has."""
    distractors: tuple[str, ...] = ()
    """Sentences about things not drawn: the artist, the mood, the frame, the occasion."""


@dataclass(frozen=True)
class Wording:
    """A language's grammar over a lexicon and frames; subclasses implement `fields` and the rest."""

    lexicon: Lexicon
    frames: Frames
    code: str = ""
    separator: str = " "
    """Between sentences: a space, or nothing in Chinese and Japanese."""
    stop: str = "."
    """What ends a sentence."""
    list_separators: tuple[str, ...] = (", ", "; ", " / ")
    cased: bool = True
    """Whether the script has letter case (and typos by letter)."""
    budget: int = 260
    """Most words (characters where the script has no spaces) of a caption, so that even the longest keeps
    within the text encoder's 512 tokens: distractors are dropped until it fits."""

    def with_(self, lexicon: Lexicon | None = None, frames: Frames | None = None) -> Wording:
        return replace(self, lexicon=lexicon or self.lexicon, frames=frames or self.frames)

    def fields(self, obj: SceneObject, grid: int, rng: random.Random) -> dict[str, str]:
        raise NotImplementedError

    def place(self, obj: SceneObject, grid: int, rng: random.Random) -> tuple[str, str]:
        """(prepositional phrase, label) for the object's cell."""
        named = region(obj.row, obj.col, grid)
        if named is None or named not in self.lexicon.places:
            return self.grid_place(obj.row, obj.col, grid)
        return rng.choice(self.lexicon.places[named])

    def grid_place(self, row: int, col: int, grid: int) -> tuple[str, str]:
        """Row and column in words, for cells no region names exactly."""
        raise NotImplementedError

    def background(self, name: str, rng: random.Random) -> str:
        return rng.choice(self.lexicon.backgrounds[name])

    def background_fields(self, name: str, rng: random.Random) -> dict[str, str]:
        """{bg} and whatever else the language's background frames need."""
        raise NotImplementedError

    def count(self, n: int) -> str:
        raise NotImplementedError

    def negation_fields(self, shape: str | None, colour: str | None, rng: random.Random) -> dict[str, str]:
        raise NotImplementedError

    def size(self, text: str) -> int:
        return len(text.split()) if self.separator else len(text)

    def sentence(self, text: str) -> str:
        return text[0].upper() + text[1:] if self.cased and text else text
