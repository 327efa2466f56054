"""Example paragraphs for the page, one per language: the encoder is an LLM, so any language works."""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "English": (
        "A small red-brick lighthouse stands on a rocky point at dusk. Its lamp has just come on and throws a "
        "pale beam across a calm sea the colour of slate. Three gulls sit on the railing of the gallery, and "
        "a wooden rowing boat, painted blue, lies pulled up on the pebbles below, its oars crossed inside."
    ),
    "中文": (
        "清晨的竹林里，一条石板小路弯弯曲曲地通向远处的一座木亭。薄雾还没有散去，阳光从竹叶的缝隙中斜斜地照下来，"
        "在地面上留下一道道金色的光斑。亭子里放着一张矮桌，桌上有一只白瓷茶壶和两个小茶杯。"
    ),
    "Français": (
        "Une boulangerie de village au petit matin : la vitrine embuée laisse voir des baguettes dorées "
        "rangées dans des paniers en osier. Sur le comptoir en marbre, une tarte aux pommes refroidit à côté "
        "d'une balance ancienne en cuivre. Dehors, un vélo vert est appuyé contre le mur de pierre."
    ),
    "Español": (
        "Un patio andaluz al mediodía, con paredes encaladas y macetas azules llenas de geranios rojos. En el "
        "centro, una fuente de azulejos deja caer un hilo de agua; un gato atigrado duerme a la sombra de un "
        "limonero, y sobre una silla de mimbre descansa un sombrero de paja."
    ),
    "Deutsch": (
        "Eine verschneite Berghütte aus dunklem Holz am Waldrand, kurz nach Sonnenuntergang. Aus dem Schornstein "
        "steigt Rauch, und die kleinen Fenster leuchten warm orange. Vor der Tür lehnen zwei Paar Skier am "
        "Holzstapel, und ein Schlitten mit rotem Seil steht im tiefen Schnee."
    ),
    "日本語": (
        "雨上がりの夜の商店街。濡れた石畳に赤い提灯の光が映り込み、小さなラーメン屋ののれんが風に揺れている。"
        "店の前には透明なビニール傘が一本立てかけられ、自転車が二台並んで止まっている。"
    ),
}
