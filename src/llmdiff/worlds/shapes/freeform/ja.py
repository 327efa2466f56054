"""Japanese in a person's own words: the training lexicon and frames (colours and sizes in the form that
goes before a noun: 赤い, 緑の, 大きな)."""

from __future__ import annotations

from dataclasses import dataclass

from llmdiff.worlds.shapes.captions.ja import COUNTS, KANJI
from llmdiff.worlds.shapes.freeform.wording import Frames, Lexicon, Wording


def corner(v: str, h: str, compass: str, clock: str) -> tuple[tuple[str, str], ...]:
    spot = {"left": "左", "right": "右"}[h] + {"top": "上", "bottom": "下"}[v]
    side = {"left": "左側", "right": "右側"}[h]
    return (
        (f"{spot}の隅に", f"{spot}の隅"),
        (f"{spot}に", spot),
        (f"{spot}の角に", f"{spot}の角"),
        (f"{compass}の角に", compass),
        (f"{clock}時の位置に", f"{clock}時の方向"),
        (f"{'上' if v == 'top' else '下'}のほうの{side}に", f"{spot}のあたり"),
    )


LEXICON = Lexicon(
    shapes={"circle": ("円", "丸", "円形"), "square": ("正方形", "四角", "四角形"), "triangle": ("三角形", "三角"),
            "diamond": ("ひし形", "菱形", "ダイヤ形"), "cross": ("十字", "十字形", "プラス記号"), "star": ("星", "星形")},
    colours={"red": ("赤い", "赤色の", "真っ赤な"), "green": ("緑の", "緑色の", "グリーンの"),
             "blue": ("青い", "青色の", "ブルーの"), "yellow": ("黄色い", "黄色の", "イエローの"),
             "purple": ("紫の", "紫色の", "パープルの"), "orange": ("オレンジ色の", "オレンジの", "だいだい色の")},
    sizes={"small": ("小さな", "小さい", "ちいさな"), "large": ("大きな", "大きい", "でかい")},
    backgrounds={"white": ("白", "真っ白", "純白"), "gray": ("灰色", "グレー"), "black": ("黒", "真っ黒")},
    places={
        ("top", "left"): corner("top", "left", "北西", "10"),
        ("top", "right"): corner("top", "right", "北東", "2"),
        ("bottom", "left"): corner("bottom", "left", "南西", "8"),
        ("bottom", "right"): corner("bottom", "right", "南東", "4"),
        ("top", "centre"): (("上の段の中央に", "上段中央"), ("上の真ん中に", "上の真ん中"), ("12時の位置に", "12時の方向")),
        ("bottom", "centre"): (("下の段の中央に", "下段中央"), ("下の真ん中に", "下の真ん中"), ("6時の位置に", "6時の方向")),
        ("middle", "left"): (("左端の中ほどに", "左の中ほど"), ("9時の位置に", "9時の方向"), ("左側の真ん中に", "左中央")),
        ("middle", "right"): (("右端の中ほどに", "右の中ほど"), ("3時の位置に", "3時の方向"), ("右側の真ん中に", "右中央")),
        ("middle", "centre"): (("ちょうど真ん中に", "ちょうど真ん中"), ("真ん中に", "真ん中"), ("中央に", "中央"), ("ど真ん中に", "ど真ん中")),
    },
)

FRAMES = Frames(
    object=("{where}{np}があります。", "{label}には{np}があります。", "{label}に{np}。", "{np}が{where}あります。",
            "{label}：{np}。", "{where}{np}が見えます。", "{where}{np}を描いてください。", "そして{where}{np}。"),
    item=("{label}に{bare}", "{bare}（{label}）", "{label}：{bare}", "{bare}、{label}"),
    background=("背景は{bg}です。", "背景：{bg}。", "{bg}の背景。", "全体が{bg}の背景の上にあります。"),
    background_item=("{bg}背景", "背景は{bg}", "{bg}地"),
    opening=("{bg}の背景に{count}あります。", "シンプルな絵で、{count}あります。"),
    heading=("図形：", "内容：", "描かれているもの："),
    closing=("以上です。", "ほかには何もありません。", "それだけです。"),
    negation_pair=("{neg}はありません。", "{neg}はない。", "{neg}はどこにもありません。"),
    negation_shape=("{plural}はありません。", "{plural}は一つもない。"),
    negation_colour=("{colour}ものはありません。", "{colour}図形はない。"),
    distractors=(
        "娘が学校の後に描きました。", "作者は裏にサインしています。", "落ち着いていて、少し遊び心のある雰囲気です。",
        "机の上に飾りたいと思っています。", "誕生日カード用に作りました。", "正直、おもちゃのカタログみたいです。",
        "幾何学のスライドに使う予定です。", "シリーズの三枚目の絵です。", "影やグラデーションはなしでお願いします。",
        "画像は正方形にしてください。", "すっきりと平らな感じにしたいです。", "子ども向けのパズル本に載せます。",
        "ミニマリズムのいい例だと思います。", "美術の授業、三週目。", "原画は京都の小さなギャラリーに飾られています。",
        "細い木の額に入れたら素敵だと思います。", "額縁は絵の一部ではありません。", "先生は色を覚えるのに役立つと言っています。",
    ),
)


@dataclass(frozen=True)
class Japanese(Wording):
    def fields(self, obj, grid, rng):
        shape = rng.choice(self.lexicon.shapes[obj.shape])
        size, colour = rng.choice(self.lexicon.sizes[obj.size]), rng.choice(self.lexicon.colours[obj.colour])
        where, label = self.place(obj, grid, rng)
        bare = f"{size}{colour}{shape}"
        return {"np": bare, "bare": bare, "where": where, "label": label, "tags": f"{shape}、{colour}、{size}"}

    def grid_place(self, row, col, grid):
        text = f"上から{KANJI[row + 1]}段目、左から{KANJI[col + 1]}列目"
        return f"{text}に", text

    def background_fields(self, name, rng):
        return {"bg": self.background(name, rng)}

    def count(self, n):
        return f"図形が{COUNTS[n] if n < len(COUNTS) else n}"

    def negation_fields(self, shape, colour, rng):
        fields = {}
        if colour:
            fields["colour"] = rng.choice(self.lexicon.colours[colour])
        if shape:
            fields["plural"] = rng.choice(self.lexicon.shapes[shape])
            if colour:
                fields["neg"] = f"{fields['colour']}{fields['plural']}"
        return fields


WORDING = Japanese(LEXICON, FRAMES, code="ja", separator="", stop="。", list_separators=("、", "，", "／"), cased=False, budget=220)
