"""Japanese wording: particles (は, が, に, の), counters (〜つ), polite sentence endings."""

from __future__ import annotations

from llmdiff.worlds.shapes.captions.base import CJKLanguage

SHAPES = {"circle": "円", "square": "正方形", "triangle": "三角形", "diamond": "ひし形", "cross": "十字", "star": "星"}
COLOURS = {"red": "赤い", "green": "緑の", "blue": "青い", "yellow": "黄色い", "purple": "紫の", "orange": "オレンジ色の"}
SIZES = {"small": "小さな", "large": "大きな"}
BACKGROUNDS = {"white": ("白い", "白"), "gray": ("灰色の", "灰色"), "black": ("黒い", "黒")}
COUNTS = ("ゼロ", "一つ", "二つ", "三つ", "四つ", "五つ", "六つ", "七つ", "八つ", "九つ", "十", "十一", "十二", "十三",
          "十四", "十五", "十六")
KANJI = "〇一二三四五六七八九"
HALVES = {"top": "上半分", "bottom": "下半分", "left": "左半分", "right": "右半分"}
RELATIONS = {"left of": "左側", "right of": "右側", "above": "真上", "below": "真下"}


def place(row: int, col: int, grid: int) -> str:
    if grid == 1:
        return "画面の中央"
    if grid == 2:
        return ("左上の隅", "右上の隅", "左下の隅", "右下の隅")[row * 2 + col]
    if grid == 3:
        return [["左上の隅", "上の段の中央", "右上の隅"], ["左端の中ほど", "ちょうど真ん中", "右端の中ほど"],
                ["左下の隅", "下の段の中央", "右下の隅"]][row][col]
    return f"上から{KANJI[row + 1]}段目、左から{KANJI[col + 1]}列目"


def noun_phrase(obj, with_size: bool = True) -> str:
    return f"{SIZES[obj.size] if with_size else ''}{COLOURS[obj.colour]}{SHAPES[obj.shape]}"


class Japanese(CJKLanguage):
    code = "ja"
    name = "日本語"
    fillers = (
        "どの図形も一色で平らに塗られていて、輪郭線や影、質感はありません。",
        "図形同士は触れ合ったり重なったりせず、それぞれが見えないマス目の自分のマスに収まっています。",
        "画像の中に文字はなく、周りに枠もありません。",
        "ごくシンプルなベクターイラストか、絵本の一ページのような雰囲気です。",
        "影を落としているものはなく、光は完全に均一です。",
        "ここで説明した図形のほかには、画面には何もありません。",
        "図形の縁はくっきりとしていて、色紙を切り抜いたように見えます。",
    )

    def reference(self, scene, index) -> str:
        obj = scene.objects[index]
        phrase = f"{COLOURS[obj.colour]}{SHAPES[obj.shape]}"
        twins = [o for o in scene.objects if (o.shape, o.colour) == (obj.shape, obj.colour)]
        return phrase if len(twins) == 1 else f"{place(obj.row, obj.col, scene.grid)}にある{phrase}"

    def opening(self, scene, act, facts, rng):
        n, (bg_adj, _), g = COUNTS[facts["count"]], BACKGROUNDS[scene.background], KANJI[scene.grid]
        return rng.choice((
            f"この画像には、{bg_adj}背景の上に{n}のシンプルな図形が描かれています。",
            f"{bg_adj}キャンバスに、{n}の色のついた図形が、見えない{g}×{g}のマス目に沿って並んでいます。",
            f"{bg_adj}背景を背に、{n}の図形が画面の中に配置されています。",
        ))

    def background(self, scene, act, facts, rng):
        _, bg = BACKGROUNDS[scene.background]
        return rng.choice((
            f"背景はむらのない{bg}一色で、グラデーションや模様はありません。",
            f"背景全体が{bg}なので、図形の色がよく映えます。",
            f"図形の後ろには、画面いっぱいに{bg}の平面が広がっています。",
        ))

    def composition(self, scene, act, facts, rng):
        parts = []
        empty = facts["empty"]
        if empty:
            parts.append(f"マス目の{COUNTS[facts['cells']]}のマスのうち、{COUNTS[empty]}は空いています。")
        else:
            parts.append("すべてのマスが埋まっています。")
        if facts["heavier"]:
            parts.append(f"視覚的な重心は画面の{HALVES[facts['heavier']]}にあります。")
        elif facts["count"] > 1:
            parts.append("図形は均等に散らばっていて、構図はバランスが取れています。")
        if facts["centre"] is not None:
            parts.append("中央のマスには図形があります。" if facts["centre"] else "中央のマスは空いています。")
        return "".join(parts)

    def object(self, scene, act, facts, rng):
        obj = scene.objects[act.subject]
        np_, where = noun_phrase(obj), place(obj.row, obj.col, scene.grid)
        if act.anchor is not None:
            if act.pronoun:
                if act.adjacent and rng.random() < 0.5:
                    return f"そのすぐ隣の図形は、{where}にある{np_}です。"
                return f"その{RELATIONS[act.relation]}、{where}には{np_}があります。"
            return f"{self.reference(scene, act.anchor)}の{RELATIONS[act.relation]}、{where}には{np_}があります。"
        return rng.choice((
            f"{where}には{np_}があります。",
            f"{np_}が{where}に置かれています。",
            f"{where}を見ると、{np_}が描かれています。",
        ) + ((f"図形の一つは{np_}で、{where}にあります。",) if facts["count"] > 1 else ()))

    def relation(self, scene, act, facts, rng):
        a, b = self.reference(scene, act.subject), self.reference(scene, act.anchor)
        return rng.choice((f"{a}は{b}の{RELATIONS[act.relation]}にあります。",
                           f"よく見ると、{a}は{b}の{RELATIONS[act.relation]}に位置しています。"))

    def closing(self, scene, act, facts, rng):
        return rng.choice(("画像の中には、ほかに何もありません。", "文字や飾りなど、ほかのものは一切描かれていません。",
                           "見えるものはこれですべてです。"))

    def short(self, scene, order, rng, places):
        bg_adj, bg = BACKGROUNDS[scene.background]
        phrases = [noun_phrase(scene.objects[i], with_size=len(order) <= 6) for i in order[:8]]
        if places:
            phrases = [f"{place(*scene.objects[i].cell, scene.grid)}の{p}" for p, i in zip(phrases, order)]
        if len(order) > 8:
            phrases.append(f"ほか{COUNTS[len(order) - 8]}の図形")
        listed = phrases[0] if len(phrases) == 1 else "、".join(phrases[:-1]) + "と" + phrases[-1]
        return rng.choice((f"{bg_adj}背景に{listed}", f"シンプルなイラスト：{listed}、{bg}背景", f"{listed}（背景は{bg}）"))
