"""Chinese wording: measure words (个, 颗), 的-attributives, locative 在…, no spaces between sentences."""

from __future__ import annotations

from llmdiff.worlds.shapes.captions.base import CJKLanguage

SHAPES = {"circle": ("圆形", "个"), "square": ("正方形", "个"), "triangle": ("三角形", "个"),
          "diamond": ("菱形", "个"), "cross": ("十字形", "个"), "star": ("五角星", "颗")}
COLOURS = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "purple": "紫色", "orange": "橙色"}
SIZES = {"small": "小", "large": "大"}
BACKGROUNDS = {"white": "白色", "gray": "灰色", "black": "黑色"}
DIGITS = ("零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四", "十五", "十六")
HALVES = {"top": "上半部分", "bottom": "下半部分", "left": "左半边", "right": "右半边"}
RELATIONS = {"left of": "左边", "right of": "右边", "above": "正上方", "below": "正下方"}


def place(row: int, col: int, grid: int) -> str:
    if grid == 1:
        return "画面中央"
    if grid == 2:
        return ("左上角", "右上角", "左下角", "右下角")[row * 2 + col]
    if grid == 3:
        return [["左上角", "上方正中", "右上角"], ["左侧中间", "画面正中央", "右侧中间"],
                ["左下角", "下方正中", "右下角"]][row][col]
    return f"从上数第{'一二三四'[row]}行、从左数第{'一二三四'[col]}列"


def noun_phrase(obj, with_size: bool = True) -> str:
    noun, measure = SHAPES[obj.shape]
    size = SIZES[obj.size] if with_size else ""
    return f"一{measure}{COLOURS[obj.colour]}的{size}{noun}"


class Chinese(CJKLanguage):
    code = "zh"
    name = "中文"
    fillers = (
        "每个图形都是平涂的纯色，没有轮廓线、阴影或纹理。",
        "图形之间互不接触，也不重叠，各自待在一个看不见的网格里属于自己的格子中。",
        "画面里没有任何文字，四周也没有边框。",
        "整体风格像一幅极简的矢量插画，或是儿童绘本里的一页。",
        "画面中的东西都没有投下阴影，光照完全均匀。",
        "除了这里描述的图形之外，画布上空无一物。",
        "图形的边缘干净利落，就像是用彩色纸剪出来的一样。",
    )

    def reference(self, scene, index) -> str:
        obj = scene.objects[index]
        phrase = f"{COLOURS[obj.colour]}{SHAPES[obj.shape][0]}"
        twins = [o for o in scene.objects if (o.shape, o.colour) == (obj.shape, obj.colour)]
        return phrase if len(twins) == 1 else f"{place(obj.row, obj.col, scene.grid)}的{phrase}"

    def opening(self, scene, act, facts, rng):
        n, bg, g = DIGITS[facts["count"]], BACKGROUNDS[scene.background], DIGITS[scene.grid]
        g = g.replace("两", "二")  # 两 counts things; a grid's side is read as a plain number
        return rng.choice((
            f"这幅图在{bg}背景上画着{n}个简单的几何图形。",
            f"{bg}的画布上排列着{n}个彩色图形，它们分布在一个看不见的{g}乘{g}网格中。",
            f"画面是一幅简洁的构图：{bg}背景上有{n}个图形。",
        ))

    def background(self, scene, act, facts, rng):
        bg = BACKGROUNDS[scene.background]
        return rng.choice((
            f"背景是均匀的{bg}，没有渐变，也没有花纹。",
            f"整个背景都是纯{bg}，让图形的颜色格外醒目。",
            f"图形后面是一整片{bg}，铺满了整幅画面。",
        ))

    def composition(self, scene, act, facts, rng):
        parts = []
        empty, cells = facts["empty"], DIGITS[facts["cells"]].replace("两", "二")
        if empty:
            parts.append(f"网格的{cells}个格子中有{DIGITS[empty]}个是空的。")
        else:
            parts.append("网格的每个格子都被占满了。")
        if facts["heavier"]:
            parts.append(f"画面的重心主要落在{HALVES[facts['heavier']]}。")
        elif facts["count"] > 1:
            parts.append("图形分布均匀，整体构图很平衡。")
        if facts["centre"] is not None:
            parts.append("正中间的格子里有图形。" if facts["centre"] else "正中间的格子是空的。")
        return "".join(parts)

    def object(self, scene, act, facts, rng):
        obj = scene.objects[act.subject]
        np_, where = noun_phrase(obj), place(obj.row, obj.col, scene.grid)
        if act.anchor is not None:
            if act.pronoun:
                if act.adjacent and rng.random() < 0.5:
                    return f"紧挨着它的图形位于{where}，是{np_}。"
                return f"在它的{RELATIONS[act.relation]}，也就是{where}，有{np_}。"
            return f"在{self.reference(scene, act.anchor)}的{RELATIONS[act.relation]}，也就是{where}，有{np_}。"
        return rng.choice((
            f"在{where}有{np_}。",
            f"{np_}位于{where}。",
            f"仔细看{where}，可以看到{np_}。",
            f"{where}画着{np_}。",
        ))

    def relation(self, scene, act, facts, rng):
        a, b = self.reference(scene, act.subject), self.reference(scene, act.anchor)
        return rng.choice((f"{a}在{b}的{RELATIONS[act.relation]}。",
                           f"可以注意到，{a}正好位于{b}的{RELATIONS[act.relation]}。"))

    def closing(self, scene, act, facts, rng):
        return rng.choice(("画面中没有其他东西。", "除此之外，图中没有任何文字或装饰。", "这就是画面里的全部内容。"))

    def short(self, scene, order, rng, places):
        bg = BACKGROUNDS[scene.background]
        phrases = [noun_phrase(scene.objects[i], with_size=len(order) <= 6) for i in order[:8]]
        if places:
            phrases = [f"{place(*scene.objects[i].cell, scene.grid)}的{p}" for p, i in zip(phrases, order)]
        if len(order) > 8:
            phrases.append(f"另外{DIGITS[len(order) - 8]}个图形")
        listed = phrases[0] if len(phrases) == 1 else "、".join(phrases[:-1]) + "和" + phrases[-1]
        return rng.choice((f"{bg}背景上的{listed}", f"简单插画：{listed}，{bg}背景", f"{listed}，{bg}底色"))
