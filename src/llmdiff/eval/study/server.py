"""The study's web page, on the standard library's HTTP server (bound to 127.0.0.1 unless told otherwise).

Each page shows one pair, chosen among those with the fewest votes, in a random left/right order. The
order lives on the server under a one-time token, so the stored vote records what was really shown and the
page's URLs never reveal which folder an image came from.
"""

from __future__ import annotations

import html
import random
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from llmdiff.eval.study.pairs import StudyPair
from llmdiff.eval.study.store import QUESTIONS, Vote, VoteStore

SCREEN_CHOICES = (("left", "Left"), ("tie", "Tie"), ("right", "Right"))
MAX_FORM_BYTES = 10_000
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
               ".bmp": "image/bmp"}


class Study:
    """The pairs, the votes, and the orders currently on someone's screen."""

    def __init__(self, pairs: list[StudyPair], store: VoteStore, seed: int | None = None):
        self.pairs = {p.name: p for p in pairs}
        self.store = store
        self.rng = random.Random(seed)
        self.shown: dict[str, tuple[str, str]] = {}  # token -> (pair name, system shown on the left)
        self.lock = threading.Lock()

    def next_pair(self) -> tuple[str, StudyPair, str]:
        counts = self.store.counts_by_pair()
        with self.lock:
            fewest = min(counts.get(name, 0) for name in self.pairs)
            pair = self.pairs[self.rng.choice([n for n in self.pairs if counts.get(n, 0) == fewest])]
            left = self.rng.choice(("A", "B"))
            token = secrets.token_urlsafe(12)
            self.shown[token] = (pair.name, left)
        return token, pair, left

    def image_path(self, token: str, side: str):
        entry = self.shown.get(token)
        if entry is None or side not in ("left", "right"):
            return None
        pair, left = self.pairs[entry[0]], entry[1]
        system = left if side == "left" else ("B" if left == "A" else "A")
        return pair.path_a if system == "A" else pair.path_b

    def record(self, token: str, screen_answers: dict[str, str], rater: str) -> bool:
        with self.lock:
            entry = self.shown.pop(token, None)
        if entry is None:
            return False
        name, left = entry
        right = "B" if left == "A" else "A"
        to_system = {"left": left, "right": right, "tie": "tie"}
        answers = {q: to_system[screen_answers[q]] for q in QUESTIONS}
        self.store.add(Vote(name, self.pairs[name].category, left, answers, rater))
        return True


def render_page(token: str, pair: StudyPair, rater: str, votes: int) -> str:
    e = html.escape
    questions = []
    for key, text in QUESTIONS.items():
        options = "".join(
            f"<label><input type='radio' name='{key}' value='{value}' id='{key}-{value}' required> {label}</label> "
            for value, label in SCREEN_CHOICES
        )
        questions.append(f"<fieldset id='{key}'><legend>{e(text)}</legend>{options}</fieldset>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Which image is better?</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}} .images{{display:flex;gap:2em}}
figure{{margin:0}} img{{width:480px;max-width:45vw;image-rendering:auto}} fieldset{{margin:1em 0}}
.prompt{{background:#f4f4f4;padding:1em;white-space:pre-wrap}}</style></head>
<body>
<p class="prompt" id="prompt">{e(pair.prompt)}</p>
<div class="images">
<figure><img id="left-image" src="/image/{token}/left" alt="left image"><figcaption>Left</figcaption></figure>
<figure><img id="right-image" src="/image/{token}/right" alt="right image"><figcaption>Right</figcaption></figure>
</div>
<form method="post" action="/vote" id="vote-form">
<input type="hidden" name="token" value="{token}">
<input type="hidden" name="rater" value="{e(rater)}">
{''.join(questions)}
<button type="submit" id="submit">Submit and show the next pair</button>
</form>
<p><small>{votes} votes so far</small></p>
</body></html>
"""


def make_handler(study: Study):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # the terminal shows the URL, not every request
            pass

        def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8", headers=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/":
                rater = parse_qs(url.query).get("rater", [""])[0][:100]
                token, pair, _ = study.next_pair()
                votes = sum(study.store.counts_by_pair().values())
                self._send(HTTPStatus.OK, render_page(token, pair, rater, votes).encode())
            elif url.path.startswith("/image/") and url.path.count("/") == 3:
                _, _, token, side = url.path.split("/")
                path = study.image_path(token, side)
                if path is None:
                    self._send(HTTPStatus.NOT_FOUND, b"unknown image")
                    return
                self._send(HTTPStatus.OK, path.read_bytes(), IMAGE_TYPES.get(path.suffix.lower(), "image/png"))
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found")

        def do_POST(self):
            if urlsplit(self.path).path != "/vote":
                self._send(HTTPStatus.NOT_FOUND, b"not found")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_FORM_BYTES:
                self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"form too large")
                return
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode("utf-8", "replace")).items()}
            answers = {q: form.get(q) for q in QUESTIONS}
            valid = {value for value, _ in SCREEN_CHOICES}
            if any(a not in valid for a in answers.values()):
                self._send(HTTPStatus.BAD_REQUEST, b"answer every question: left, tie or right")
                return
            rater = form.get("rater", "")[:100]
            if not study.record(form.get("token", ""), answers, rater):
                self._send(HTTPStatus.CONFLICT, b"this page was already submitted or has expired; reload /")
                return
            location = "/" + (f"?{urlencode({'rater': rater})}" if rater else "")
            self._send(HTTPStatus.SEE_OTHER, b"", headers=[("Location", location)])

    return Handler


def make_server(study: Study, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    from llmdiff.errors import UserError

    try:
        return ThreadingHTTPServer((host, port), make_handler(study))
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror}") from None
