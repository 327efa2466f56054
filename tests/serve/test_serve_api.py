"""The JSON API through FastAPI's TestClient: good requests, bad requests, limits and the token."""

import base64
import io
import json
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import TOKEN

PROMPT = "A red lighthouse on a rocky point at dusk, three gulls on its railing."


@pytest.fixture
def client(make_app):
    app, _ = make_app()
    with TestClient(app) as client:
        yield client


def generate(client, **body):
    return client.post("/api/generate", json={"prompt": PROMPT, "width": 32, "height": 32, **body})


def test_generate_returns_png_with_metadata_saved_in_output_dir(make_app):
    app, output_dir = make_app()
    with TestClient(app) as client:
        response = generate(client, seed=7, num_images=2, negative_prompt="fog")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["seeds"] == [7, 8]
        assert [image["metadata"]["seed"] for image in body["images"]] == [7, 8]
        first = body["images"][0]
        png = base64.b64decode(first["png_base64"])
        assert Image.open(io.BytesIO(png)).size == (32, 32)
        assert first["metadata"]["prompt"] == PROMPT
        assert first["metadata"]["negative_prompt"] == "fog"
        assert first["metadata"]["steps"] == 2  # the server's default
        # Saved under a server-chosen name in the output dir, and served back byte for byte.
        assert sorted(p.name for p in output_dir.glob("*.png")) == sorted(i["name"] for i in body["images"])
        served = client.get(first["url"])
        assert served.status_code == 200 and served.content == png
        from llmdiff.images import read_metadata

        assert read_metadata(output_dir / first["name"])["seed"] == 7


def test_same_seed_gives_same_image(client):
    first = generate(client, seed=3).json()["images"][0]["png_base64"]
    again = generate(client, seed=3).json()["images"][0]["png_base64"]
    assert first == again


def test_server_picks_seed_when_none_given_and_can_skip_base64(client):
    body = generate(client, include_base64=False).json()
    assert isinstance(body["seeds"][0], int)
    assert "png_base64" not in body["images"][0]


def test_several_prompts(client):
    response = generate(client, prompt=["a cat", "un chat"], seed=0)
    assert response.status_code == 200, response.text
    assert [i["metadata"]["prompt"] for i in response.json()["images"]] == ["a cat", "un chat"]


def test_tokens_health_and_limits(client):
    tokens = client.post("/api/tokens", json={"prompt": PROMPT}).json()
    assert tokens["tokens"] > 5 and tokens["dropped"] == 0 and tokens["limit"] > tokens["tokens"]
    long = client.post("/api/tokens", json={"prompt": "word " * 700}).json()
    assert long["dropped"] == long["tokens"] - long["limit"] > 0
    assert client.get("/api/health").json()["status"] == "ok"
    limits = client.get("/api/limits").json()
    assert limits["max_images"] == 4 and limits["max_prompt_chars"] == 4000


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"prompt": "x" * 4001}, 422, "4001 characters; the limit is 4000"),
        ({"prompt": PROMPT, "negative_prompt": "y" * 4001}, 422, "negative prompt has 4001 characters"),
        ({"prompt": PROMPT, "steps": -1}, 422, "steps must be between 1 and 100"),
        ({"prompt": PROMPT, "steps": 0}, 422, "steps must be between 1 and 100"),
        ({"prompt": PROMPT, "steps": 101}, 422, "steps must be between 1 and 100"),
        ({"prompt": PROMPT, "num_images": 5}, 422, "5 images in one request; the limit is 4"),
        ({"prompt": PROMPT, "num_images": -2}, 422, "num_images must be at least 1"),
        ({"prompt": ["a"] * 3, "num_images": 2}, 422, "6 images in one request"),
        ({"prompt": ["a"] * 5}, 422, "5 prompts in one request"),
        ({"prompt": PROMPT, "width": 2048}, 422, "width must be a multiple of 8 between 8 and 1024"),
        ({"prompt": PROMPT, "height": 33}, 422, "height must be a multiple of 8"),
        ({"prompt": PROMPT, "width": -64}, 422, "width must be a multiple of 8"),
        ({"prompt": PROMPT, "guidance": -1.0}, 422, "guidance must be between 0 and 50"),
        ({"prompt": PROMPT, "seed": -5}, 422, "seed must be between 0"),
        ({"prompt": []}, 422, "no prompt given"),
        ({"prompt": "   "}, 422, "only whitespace"),
        ({"prompt": "a\x00b"}, 422, "NUL byte"),
        # Wrong types are refused, never coerced.
        ({"prompt": 42}, 422, "prompt"),
        ({"prompt": PROMPT, "steps": "2"}, 422, "steps: Input should be a valid integer"),
        ({"prompt": PROMPT, "steps": 2.5}, 422, "steps"),
        ({"prompt": PROMPT, "num_images": True}, 422, "num_images"),
        ({"prompt": PROMPT, "output_path": "/etc/x.png"}, 422, "output_path: Extra inputs are not permitted"),
        ({}, 422, "prompt: Field required"),
        ([1, 2], 422, "invalid request"),
    ],
)
def test_bad_requests_get_clear_errors(client, body, status, message):
    response = client.post("/api/generate", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_malformed_json_is_400(client):
    response = client.post("/api/generate", content=b'{"prompt": "a', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "the request body is not valid JSON"}


def test_huge_body_is_413_before_parsing(client):
    response = client.post("/api/generate", content=json.dumps({"prompt": "x" * 1_000_000}),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "over the limit of 262144 bytes" in response.json()["error"]


def test_image_route_refuses_other_names(client):
    for name in ["..%2F..%2Fetc%2Fpasswd", "x.txt", "missing.png"]:
        assert client.get(f"/api/images/{name}").status_code == 404


def test_token_required_on_every_route_when_set(make_app):
    app, _ = make_app(auth_token=TOKEN)
    with TestClient(app) as client:
        for headers in [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}]:
            for method, path in [("get", "/api/health"), ("post", "/api/generate"), ("get", "/")]:
                response = getattr(client, method)(path, headers=headers)
                assert response.status_code == 401, (path, headers)
                assert "access token" in response.json()["error"]
                assert response.headers["www-authenticate"].startswith("Bearer")
        ok = client.post(
            "/api/generate", json={"prompt": PROMPT, "width": 32, "height": 32},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert ok.status_code == 200, ok.text


def test_browser_token_link_sets_cookie(make_app):
    app, _ = make_app(auth_token=TOKEN)
    with TestClient(app) as client:
        response = client.get(f"/api/health?token={TOKEN}", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/api/health"
        assert "HttpOnly" in response.headers["set-cookie"]
        assert client.get("/api/health").status_code == 200  # the cookie now carries the token
        client.cookies.clear()
        assert client.get("/api/health?token=wrong-token-0123456789").status_code == 401


def test_public_host_needs_token():
    from llmdiff.errors import UserError
    from llmdiff.serve.config import ServeConfig

    with pytest.raises(UserError, match="--auth-token or the LLMDIFF_SERVE_TOKEN"):
        ServeConfig(host="0.0.0.0")
    with pytest.raises(UserError, match="at least 16 characters"):
        ServeConfig(host="0.0.0.0", auth_token="short")
    assert ServeConfig(host="0.0.0.0", auth_token=TOKEN).auth_token == TOKEN
    assert ServeConfig(host="::1").auth_token is None
    assert ServeConfig(host="localhost").auth_token is None


def test_request_over_its_timeout_gets_503_and_frees_the_model(make_app, monkeypatch):
    from llmdiff.serve.generation import ImageGenerator

    real_run = ImageGenerator.run

    def slow_run(self, settings, job):
        if settings.prompts[0] == "slow":
            while True:  # a call that would never end on its own
                time.sleep(0.02)
                job.check()
        return real_run(self, settings, job)

    monkeypatch.setattr(ImageGenerator, "run", slow_run)
    app, _ = make_app(request_timeout_s=0.3)
    with TestClient(app) as client:
        started = time.monotonic()
        response = generate(client, prompt="slow")
        assert response.status_code == 503
        assert "did not finish within 0.3 s" in response.json()["error"]
        assert int(response.headers["retry-after"]) >= 1
        assert time.monotonic() - started < 3
        # The abandoned call released the model: nothing runs or waits any more.
        deadline = time.monotonic() + 5
        while client.get("/api/health").json()["busy"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/api/health").json() | {"model": None} == {
            "status": "ok", "busy": False, "waiting": 0, "max_waiting": 8, "model": None}


def test_page_is_served_and_gated_by_the_token(make_app):
    app, _ = make_app(with_page=True, auth_token=TOKEN)
    with TestClient(app) as client:
        assert client.get("/").status_code == 401
        assert client.get("/config").status_code == 401
        assert client.get(f"/?token={TOKEN}").status_code == 200  # redirected, cookie set
        page = client.get("/")
        assert page.status_code == 200 and "<html" in page.text
        assert client.get("/config").json()["title"] == "llmdiff"


def test_token_note_warns_about_truncation(make_app):
    from llmdiff.serve.page import token_note

    app, _ = make_app(with_page=True)
    generator = app.state.serve.generator
    assert token_note(generator, "a cat") == f"2 / {generator.token_limit} tokens"
    long = token_note(generator, "word " * 700)
    assert long.startswith("⚠️") and "will be dropped (truncated)" in long


def test_cancelled_generator_stops_at_its_first_module_and_saves_nothing(serve_pipe, tmp_path):
    from llmdiff.serve import queue
    from llmdiff.serve.generation import ImageGenerator
    from llmdiff.serve.limits import GenerationSettings

    generator = ImageGenerator(serve_pipe, tmp_path)
    job = queue.Job(work=None, deadline=time.monotonic() + 60, timeout_s=60)
    job.cancel()
    with pytest.raises(queue._Stop):
        generator.run(GenerationSettings(prompts=["a cat"], steps=5, width=32, height=32), job)
    assert job.steps_done == 0 and job.steps_total == 5  # stopped in the prompt encoding, before any step
    assert not list(tmp_path.glob("*.png"))
