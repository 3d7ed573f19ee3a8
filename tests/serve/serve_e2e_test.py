#!/usr/bin/env python3
"""End-to-end test of `vitrt serve` with NVIDIA's tritonclient[http] (run by ctest as serve_e2e).

Starts the server on a free port over a repository made from a golden fixture
(tests/golden/hf_vit_eager_ts17: a plan built with `vitrt build`, and the .onnx served directly),
then checks: results equal the stored PyTorch outputs (JSON and binary tensors); concurrent
requests, batched together, each get the result for their own input; malformed requests get
the right status and a JSON error; a full queue answers 429 with Retry-After; oversized bodies
413; idle connections are closed; SIGTERM finishes in-flight requests and exits 0; `vitrt perf`
sweeps it and writes JSON, CSV and SVG.

Fails (never skips) when tritonclient or openai are missing: scripts/setup.sh installs them.
The official openai client is checked against /v1/embeddings of FAKE_CLIP_SERVER (a fake
ClipModel behind the same server code: a text of k bytes embeds to the unit vector e_(k mod 4)),
and, where the tree has the tiny CLIP fixture (tests/data/clip_tiny), /v1/embeddings, classify
and rank of the real ClipModel against its Hugging Face reference outputs.

usage: serve_e2e_test.py VITRT_BINARY SOURCE_DIR FAKE_CLIP_SERVER
"""
import base64
import concurrent.futures
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from xml.etree import ElementTree

try:
    import numpy as np
    import openai
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException
except ImportError as e:
    sys.exit(f"serve_e2e: {e}; run scripts/setup.sh (it pip-installs tritonclient[http] and openai)")

FIXTURE = "tests/golden/hf_vit_eager_ts17"
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def close_to(actual, expected, rel=1e-4):
    scale = max(1.0, float(np.abs(expected).max()))
    return actual.shape == expected.shape and float(np.abs(actual - expected).max()) <= rel * scale


def start_server(vitrt, repo, *extra):
    command = [vitrt, "serve", "--model-repository", repo, "--port", "0",
               "--host", "127.0.0.1", *extra] if repo else [vitrt]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        sys.exit(f"serve_e2e: server did not start: {line}{proc.stderr.read()}")
    return proc, int(line.strip().rsplit(":", 1)[1])


def raw(port, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


def json_infer_body(x):
    return json.dumps({"inputs": [{"name": "pixel_values", "datatype": "FP32",
                                   "shape": list(x.shape), "data": x.ravel().tolist()}]})


def main():
    vitrt, source = sys.argv[1], sys.argv[2]
    fixture = os.path.abspath(os.path.join(source, FIXTURE))
    cases = []
    for case in ("case0", "case1"):
        x = np.load(os.path.join(fixture, case, "input.pixel_values.npy"))
        y = np.load(os.path.join(fixture, case, "output.0.logits.npy"))
        cases.append((x, y))

    with tempfile.TemporaryDirectory() as repo:
        os.makedirs(f"{repo}/vit")
        subprocess.run([vitrt, "build", f"{fixture}/model.onnx", "-o", f"{repo}/vit/model.plan"],
                       check=True, stdout=subprocess.DEVNULL)
        with open(f"{repo}/vit/config.json", "w") as f:
            json.dump({"max_batch_size": 4, "instance_count": 2,
                       "dynamic_batching": {"max_queue_delay_microseconds": 3000,
                                            "max_queue_size": 256}}, f)
        # The same model from its .onnx, one row at a time with a one-request queue: for 429.
        os.makedirs(f"{repo}/vit_small_queue")
        with open(f"{repo}/vit_small_queue/config.json", "w") as f:
            json.dump({"plan": f"{fixture}/model.onnx", "max_batch_size": 1,
                       "dynamic_batching": {"max_queue_size": 1}}, f)

        proc, port = start_server(vitrt, repo, "--max-body-bytes", "400000",
                                  "--read-timeout-ms", "1500")
        try:
            run_checks(port, cases)
            check_perf(vitrt, port, repo)
            check_sigterm(proc, port, cases)
        finally:
            if proc.poll() is None:
                proc.kill()
    check_openai(sys.argv[3])
    check_real_clip(vitrt, source)
    print(f"serve_e2e: {len(failures)} failure(s)" if failures else "serve_e2e: all checks passed")
    return 1 if failures else 0


def run_checks(port, cases):
    # tritonclient.http runs on gevent: one thread only; concurrency comes from async_infer.
    client = triton.InferenceServerClient(f"127.0.0.1:{port}", concurrency=32)
    check(client.is_server_live() and client.is_server_ready(), "server live and ready")
    check(client.is_model_ready("vit"), "model ready")
    meta = client.get_model_metadata("vit")
    check(meta["inputs"][0] == {"name": "pixel_values", "datatype": "FP32",
                                "shape": [-1, 3, 32, 32]}, f"model metadata {meta['inputs']}")
    config = client.get_model_config("vit")
    check(config["max_batch_size"] == 4 and config["input"][0]["dims"] == [3, 32, 32] and
          config["instance_group"][0]["count"] == 2, f"model config {config}")

    def request(x, binary):
        i = triton.InferInput("pixel_values", list(x.shape), "FP32")
        i.set_data_from_numpy(x, binary_data=binary)
        return [i], [triton.InferRequestedOutput("logits", binary_data=binary)]

    def infer(x, binary=True, model="vit"):
        inputs, outputs = request(x, binary)
        return client.infer(model, inputs, outputs=outputs).as_numpy("logits")

    for k, (x, y) in enumerate(cases):
        check(close_to(infer(x, True), y), f"case{k} binary tensors equal PyTorch")
        check(close_to(infer(x, False), y), f"case{k} JSON tensors equal PyTorch")
        check(close_to(infer(x[:1], True, "vit_small_queue"), y[:1]), f"case{k} .onnx model")

    # Concurrency: 64 requests of 1-2 rows over 16 distinct inputs, fired at once so the batcher
    # joins them; each must get its own rows. References: the stored PyTorch outputs for the
    # fixture rows, one-at-a-time answers for random inputs.
    rng = np.random.default_rng(0)
    pool = [(cases[0][0], cases[0][1])] + [(cases[1][0][r:r + 1], cases[1][1][r:r + 1])
                                            for r in range(3)]
    for _ in range(12):
        x = rng.standard_normal((1, 3, 32, 32), dtype=np.float32)
        pool.append((x, infer(x)))
    jobs = []
    for n in range(64):
        a, b = pool[n % len(pool)], pool[(n * 7 + 3) % len(pool)]
        if n % 3 == 0:
            jobs.append((np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])))
        else:
            jobs.append(a)
    pending = []
    for n, j in enumerate(jobs):
        inputs, outputs = request(j[0], bool(n % 2))
        pending.append(client.async_infer("vit", inputs, outputs=outputs))
    results = [p.get_result().as_numpy("logits") for p in pending]
    wrong = sum(not close_to(r, j[1]) for r, j in zip(results, jobs))
    check(wrong == 0, f"64 concurrent requests each got their own result ({wrong} wrong)")
    _, _, metrics = raw(port, "GET", "/metrics")
    metrics = metrics.decode()
    count = [l for l in metrics.splitlines() if l.startswith('vitrt_batch_size_count{model="vit"}')]
    summ = [l for l in metrics.splitlines() if l.startswith('vitrt_batch_size_sum{model="vit"}')]
    batches, rows = float(count[0].split()[-1]), float(summ[0].split()[-1])
    check(rows > batches, f"requests were batched together ({rows:.0f} rows in {batches:.0f} runs)")
    check('vitrt_requests_total{model="vit",endpoint="infer"}' in metrics and
          'stage="queue"' in metrics and "vitrt_inflight_requests 0" in metrics,
          "/metrics has request counters, stage histograms and the in-flight gauge")

    # Bad requests: status code and a JSON {"error": ...} body.
    x0 = cases[0][0]
    bad = [
        ("malformed JSON", "/v2/models/vit/infer", b"{not json", 400),
        ("unknown model", "/v2/models/nope/infer", json_infer_body(x0).encode(), 404),
        ("wrong dtype", "/v2/models/vit/infer", json_infer_body(x0).replace('"FP32"', '"INT32"').encode(), 400),
        ("wrong shape", "/v2/models/vit/infer", json.dumps({"inputs": [{"name": "pixel_values",
            "datatype": "FP32", "shape": [1, 3, 16, 16], "data": [0.0] * 768}]}).encode(), 400),
        ("batch over max_batch_size", "/v2/models/vit/infer",
            json_infer_body(np.zeros((5, 3, 32, 32), np.float32)).encode(), 400),
        ("unknown endpoint", "/v3/whatever", b"", 404),
        ("oversized body", "/v2/models/vit/infer", b"[" + b" " * 500000 + b"]", 413),
    ]
    for what, path, body, status in bad:
        got, _, data = raw(port, "POST", path, body, {"Content-Type": "application/json"})
        try:
            message = json.loads(data)["error"]
        except (ValueError, KeyError):
            message = None
        check(got == status and message, f"{what}: {got} (want {status}) {message!r:.90}")
    try:
        i = triton.InferInput("pixel_values", [1, 3, 32, 31], "FP32")
        i.set_data_from_numpy(np.zeros((1, 3, 32, 31), np.float32))
        client.infer("vit", [i])
        check(False, "tritonclient raises on a wrong shape")
    except InferenceServerException as e:
        check("dim 3 is 31, the model expects 32" in str(e), f"tritonclient error text: {e}")

    # A full queue answers 429 with Retry-After; every 200 carries the right result.
    x1, y1 = cases[1][0][2:3], cases[1][1][2:3]
    body = json_infer_body(x1).encode()
    def post(_):
        return raw(port, "POST", "/v2/models/vit_small_queue/infer", body)
    with concurrent.futures.ThreadPoolExecutor(48) as ex:
        answers = list(ex.map(post, range(96)))
    too_many = [h for s, h, _ in answers if s == 429]
    good = [json.loads(d)["outputs"][0]["data"] for s, _, d in answers if s == 200]
    check(too_many and all(h.get("Retry-After") == "1" for h in too_many),
          f"full queue: {len(too_many)} x 429 with Retry-After")
    check(good and all(close_to(np.array(g, np.float32).reshape(1, -1), y1) for g in good) and
          len(good) + len(too_many) == 96, f"full queue: the {len(good)} answered are correct")

    # An idle connection is closed after --read-timeout-ms (1.5 s here).
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    t0 = time.time()
    closed = s.recv(1) == b""
    check(closed and time.time() - t0 < 4.5, f"idle connection closed after {time.time() - t0:.1f} s")
    s.close()
    # A client that disconnects mid-request costs nothing else: the server keeps answering.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /v2/models/vit/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
    s.close()
    check(close_to(infer(cases[0][0]), cases[0][1]), "server fine after a client vanished")


def check_perf(vitrt, port, out_dir):
    r = subprocess.run([vitrt, "perf", "--model", "vit", "--url", f"http://127.0.0.1:{port}",
                        "--concurrency", "1,4", "--duration-s", "0.5", "--batch", "2",
                        "--json", f"{out_dir}/perf.json", "--csv", f"{out_dir}/perf.csv",
                        "--svg", f"{out_dir}/perf.svg"], capture_output=True, text=True)
    steps = json.load(open(f"{out_dir}/perf.json"))["steps"] if r.returncode == 0 else []
    check(len(steps) == 2 and all(s["completed"] > 0 and s["failed"] == 0 and
                                  s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] for s in steps),
          f"vitrt perf: two steps, no failures {r.stdout.strip()!r:.200} {r.stderr.strip()}")
    csv_lines = open(f"{out_dir}/perf.csv").read().splitlines() if r.returncode == 0 else []
    svg = open(f"{out_dir}/perf.svg").read() if r.returncode == 0 else ""
    try:
        polylines = len(ElementTree.fromstring(svg).findall("{http://www.w3.org/2000/svg}polyline"))
    except ElementTree.ParseError:
        polylines = 0
    check(len(csv_lines) == 3 and polylines == 3, "vitrt perf: CSV and a well-formed SVG written")


def check_openai(fake_clip_server):
    proc, port = start_server(fake_clip_server, None)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
        texts = ["a", "bb", "a photo of a cat", "dddd"]
        expected = np.eye(4, dtype=np.float32)[[len(t) % 4 for t in texts]]
        for fmt in (openai.NOT_GIVEN, "float", "base64"):
            r = client.embeddings.create(model="clip", input=texts, encoding_format=fmt)
            # Asked for base64 explicitly, the client hands back the string undecoded.
            got = np.array([np.frombuffer(base64.b64decode(d.embedding), "<f4") if fmt == "base64"
                            else d.embedding for d in r.data], np.float32)
            check(np.array_equal(got, expected) and [d.index for d in r.data] == [0, 1, 2, 3],
                  f"openai client embeddings, encoding_format={fmt}")
        r = client.embeddings.create(model="clip", input="xyz")
        check(np.array_equal(np.array(r.data[0].embedding), np.eye(4)[3]), "openai: one string")
        try:
            client.embeddings.create(model="nope", input="x")
            check(False, "openai: unknown model raises")
        except openai.NotFoundError as e:
            check("served CLIP model" in str(e), f"openai: unknown model -> 404 ({e})")
    finally:
        proc.kill()


def post_json(port, path, body):
    status, _, data = raw(port, "POST", path, json.dumps(body).encode(),
                          {"Content-Type": "application/json"})
    return status, json.loads(data)


def check_real_clip(vitrt, source):
    """/v1 over the real ClipModel on the tiny CLIP fixture, against its HF reference outputs."""
    fixture = os.path.join(source, "tests/data/clip_tiny")
    if not os.path.isdir(fixture):
        print("note: tests/data/clip_tiny is not in this tree: real-CLIP checks not run")
        return
    vocab = os.path.join(source, "third_party_data/clip/bpe_simple_vocab_16e6.txt.gz")
    images_dir = os.path.join(source, "tests/data/vision")
    with tempfile.TemporaryDirectory() as repo:
        model_dir = os.path.join(repo, "clip")
        shutil.copytree(fixture, model_dir)
        subprocess.run([vitrt, "build", model_dir], check=True, stdout=subprocess.DEVNULL)
        with open(f"{model_dir}/config.json", "w") as f:
            json.dump({"backend": "clip", "max_batch_size": 8,
                       "dynamic_batching": {"max_queue_delay_microseconds": 2000},
                       "clip": {"vocab_path": vocab}}, f)
        proc, port = start_server(vitrt, repo)
        try:
            unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
            texts = json.load(open(f"{fixture}/texts.json"))
            ref_t = unit(np.load(f"{fixture}/text_embeds.npy"))
            ref_i = unit(np.load(f"{fixture}/image_embeds.npy"))
            probs = np.load(f"{fixture}/probs.npy")
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
            r = client.embeddings.create(model="clip", input=texts)
            got = np.array([d.embedding for d in r.data], np.float32)
            check(close_to(got, ref_t), f"real CLIP: openai client text embeddings = HF ({len(texts)})")

            def uri(name):
                with open(os.path.join(images_dir, name), "rb") as f:
                    data = base64.b64encode(f.read()).decode()
                return f"data:image/{name.rsplit('.', 1)[1]};base64,{data}"
            images = [uri(n) for n in json.load(open(f"{fixture}/images.json"))]
            status, doc = post_json(port, "/v1/embeddings",
                                    {"model": "clip", "input": [{"image": u} for u in images]})
            got = np.array([d["embedding"] for d in doc.get("data", [])], np.float32)
            check(status == 200 and close_to(got, ref_i), "real CLIP: image embeddings = HF")
            status, doc = post_json(port, "/v1/classify", {"model": "clip", "images": images,
                                                           "labels": texts[:probs.shape[1]]})
            got = np.array([d["scores"] for d in doc.get("data", [])], np.float32)
            check(status == 200 and close_to(got, probs), "real CLIP: classify = HF probabilities")
            status, doc = post_json(port, "/v1/rank", {"model": "clip", "query": texts[0],
                                                       "documents": [{"image": u} for u in images]})
            order = [r["index"] for r in doc.get("results", [])]
            check(status == 200 and order == list(np.argsort(-(ref_i @ ref_t[0]))),
                  f"real CLIP: rank order {order}")
            status, doc = post_json(port, "/v1/embeddings", {"model": "clip", "input": [
                {"image": "data:image/png;base64," + base64.b64encode(b"not a png").decode()}]})
            check(status == 400 and "input 0" in doc["error"]["message"],
                  f"real CLIP: undecodable image -> {status} {doc}")
            check_perf_images(vitrt, port, repo, images_dir, f"{fixture}/preprocessor_config.json")
        finally:
            proc.kill()


def check_perf_images(vitrt, port, out_dir, images_dir, preprocessor_config):
    photos = [os.path.join(images_dir, n) for n in ("cat_q90_420.jpg", "cup_rgba.png",
                                                     "launch_lossy.webp")]
    perf = [vitrt, "perf", "--model", "clip", "--url", f"http://127.0.0.1:{port}",
            "--images", *photos, "--images-per-request", "2", "--concurrency", "1,3",
            "--duration-s", "0.3"]
    r = subprocess.run(perf + ["--json", f"{out_dir}/perf_images.json"], capture_output=True,
                       text=True)
    steps = json.load(open(f"{out_dir}/perf_images.json"))["steps"] if r.returncode == 0 else []
    check(len(steps) == 2 and all(s["failed"] == 0 and s["completed"] > 0 for s in steps)
          and all(abs(s["items_per_s"] - 2 * s["throughput"]) < 1e-6 for s in steps)
          and "embeddings of 16 values" in r.stdout,
          f"vitrt perf --images: every answer checked, none failed {r.stdout.strip()!r:.300} "
          f"{r.stderr.strip()}")
    # Answers of another size than required are failures: the run fails, naming the reason.
    r = subprocess.run(perf + ["--embed-dim", "17"], capture_output=True, text=True)
    check(r.returncode == 1 and "has 16 values, expected 17" in r.stderr,
          f"vitrt perf --images --embed-dim 17: exit 1 naming the size ({r.returncode}, "
          f"{r.stderr.strip()!r:.200})")
    r = subprocess.run([vitrt, "perf", "--decode-only", "--images", *photos,
                        "--preprocessor-config", preprocessor_config, "--threads", "1,2",
                        "--duration-s", "0.2", "--json", f"{out_dir}/decode.json"],
                       capture_output=True, text=True)
    rates = json.load(open(f"{out_dir}/decode.json"))["decode"] if r.returncode == 0 else []
    check([d["threads"] for d in rates] == [1, 2] and all(d["images"] > 0 for d in rates),
          f"vitrt perf --decode-only: images/s per thread count {r.stdout.strip()!r:.200} "
          f"{r.stderr.strip()}")


def check_sigterm(proc, port, cases):
    x, y = cases[1]
    body = json_infer_body(x).encode()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        futures = [ex.submit(raw, port, "POST", "/v2/models/vit/infer", body) for _ in range(8)]
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        answers = [f.result() for f in futures]
    ok = [a for a in answers if a[0] == 200]
    check(all(a[0] in (200, 503) for a in answers) and
          all(close_to(np.array(json.loads(a[2])["outputs"][0]["data"], np.float32).reshape(y.shape), y)
              for a in ok), f"SIGTERM: in-flight requests answered ({len(ok)} of 8 with results)")
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        code = None
    check(code == 0, f"SIGTERM: server exited with {code}")


if __name__ == "__main__":
    sys.exit(main())
