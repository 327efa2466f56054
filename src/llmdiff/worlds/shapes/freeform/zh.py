"""Chinese in a person's own words: the training lexicon and frames (shapes carry their measure word)."""

from __future__ import annotations

from dataclasses import dataclass

from llmdiff.worlds.shapes.captions.zh import DIGITS
from llmdiff.worlds.shapes.freeform.wording import Frames, Lexicon, Wording


def corner(v: str, h: str, compass: str, clock: str) -> tuple[tuple[str, str], ...]:
    side = {"left": "左", "right": "右"}[h]
    up = {"top": "上", "bottom": "下"}[v]
    return (
        (f"在{side}{up}角", f"{side}{up}角"),
        (f"在{side}{up}方", f"{side}{up}"),
        (f"在{side}{up}象限", f"{side}{up}象限"),
        (f"在{compass}角", f"{compass}角"),
        (f"在{clock}点钟方向", f"{clock}点钟方向"),
        (f"靠近{'顶部' if v == 'top' else '底部'}的{side}边", f"{side}{up}边"),
    )


LEXICON = Lexicon(
    shapes={  # (noun, measure word)
        "circle": (("圆形", "个"), ("圆", "个"), ("圆点", "个"), ("圆片", "个")),
        "square": (("正方形", "个"), ("方块", "个"), ("方形", "个")),
        "triangle": (("三角形", "个"), ("三角", "个")),
        "diamond": (("菱形", "个"), ("钻石形", "个")),
        "cross": (("十字形", "个"), ("十字", "个"), ("加号", "个")),
        "star": (("五角星", "颗"), ("星星", "颗"), ("星形", "个")),
    },
    colours={"red": ("红色", "红", "大红色", "鲜红色"), "green": ("绿色", "绿", "翠绿色"), "blue": ("蓝色", "蓝", "宝蓝色"),
             "yellow": ("黄色", "黄", "柠檬黄"), "purple": ("紫色", "紫"), "orange": ("橙色", "橘色", "橙")},
    sizes={"small": ("小", "小小的"), "large": ("大", "大大的")},
    backgrounds={"white": ("白色", "纯白", "雪白"), "gray": ("灰色",), "black": ("黑色", "纯黑")},
    places={
        ("top", "left"): corner("top", "left", "西北", "十"),
        ("top", "right"): corner("top", "right", "东北", "两"),
        ("bottom", "left"): corner("bottom", "left", "西南", "八"),
        ("bottom", "right"): corner("bottom", "right", "东南", "四"),
        ("top", "centre"): (("在上方正中", "上方正中"), ("在十二点钟方向", "十二点钟方向"), ("在正北", "正北")),
        ("bottom", "centre"): (("在下方正中", "下方正中"), ("在六点钟方向", "六点钟方向"), ("在正南", "正南")),
        ("middle", "left"): (("在左侧中间", "左侧中间"), ("在九点钟方向", "九点钟方向"), ("在正西", "正西")),
        ("middle", "right"): (("在右侧中间", "右侧中间"), ("在三点钟方向", "三点钟方向"), ("在正东", "正东")),
        ("middle", "centre"): (("在画面正中央", "画面正中央"), ("在正中间", "正中间"), ("在中心", "中心"), ("在画面中央", "中央")),
    },
)

FRAMES = Frames(
    object=("{where}有{np}。", "{np}{where}。", "{label}：{np}。", "{label}是{np}。", "我看到{where}有{np}。",
            "还有{np}{where}。", "{label}画着{np}。", "{where}，{np}。", "请在{label}画{np}。"),
    item=("{label}{bare}", "{bare}（{label}）", "{label}：{bare}", "{bare}，{label}"),
    background=("背景是{bg}的。", "背景：{bg}。", "都在{bg}背景上。", "底色是{bg}。"),
    background_item=("{bg}背景", "{bg}底", "背景{bg}"),
    opening=("{bg}背景上有{count}。", "一幅简单的画，有{count}。", "画面里有{count}。"),
    heading=("图形：", "内容：", "画面里："),
    closing=("就这些。", "没有别的了。", "画面里没有其他东西。"),
    negation_pair=("没有{neg}。", "画面里没有{neg}。", "不存在{neg}。"),
    negation_shape=("没有{plural}。", "图里没有{plural}。"),
    negation_colour=("没有{colour}的东西。", "没有任何{colour}的图形。"),
    distractors=(
        "这是我女儿放学后画的。", "画家在背面签了名。", "整体气氛安静，又有点俏皮。", "我想把它挂在书桌上方。",
        "这是为一张生日贺卡准备的。", "说实话，它看起来像玩具目录。", "这张图用在一页讲几何的幻灯片里。",
        "这是一个系列中的第三张。", "请不要阴影，也不要渐变。", "图片应该是正方形的。", "要画得干净、平整。",
        "这是给儿童益智书用的。", "我觉得这是极简主义的好例子。", "美术课，第三周。", "原作挂在杭州的一家小画廊里。",
        "配一个细木框会很好看。", "画框不属于画面的一部分。", "老师说这有助于认识颜色。",
    ),
)


@dataclass(frozen=True)
class Chinese(Wording):
    def fields(self, obj, grid, rng):
        noun, measure = rng.choice(self.lexicon.shapes[obj.shape])
        size, colour = rng.choice(self.lexicon.sizes[obj.size]), rng.choice(self.lexicon.colours[obj.colour])
        where, label = self.place(obj, grid, rng)
        size_de = size if size.endswith("的") else f"{size}的"
        # "大红" is also a colour word: a size never stands right before a colour without 的.
        bare = rng.choice((f"{colour}的{size[0]}{noun}", f"{size_de}{colour}{noun}"))
        return {"np": f"一{measure}{bare}", "bare": bare, "where": where, "label": label,
                "tags": f"{noun}，{colour}，{size[0]}"}

    def grid_place(self, row, col, grid):
        text = f"从上数第{'一二三四'[row]}行、从左数第{'一二三四'[col]}列"
        return f"在{text}", text

    def background_fields(self, name, rng):
        return {"bg": self.background(name, rng)}

    def count(self, n):
        return f"{DIGITS[n] if n < len(DIGITS) else n}个图形"

    def negation_fields(self, shape, colour, rng):
        fields = {}
        if colour:
            fields["colour"] = rng.choice(self.lexicon.colours[colour])
        if shape:
            fields["plural"] = rng.choice(self.lexicon.shapes[shape])[0]
            if colour:
                fields["neg"] = f"{fields['colour']}的{fields['plural']}"
        return fields


WORDING = Chinese(LEXICON, FRAMES, code="zh", separator="", stop="。", list_separators=("，", "、", "；"), cased=False, budget=220)
