"""Command line: ``mgqa ask``, ``mgqa index build|info``, ``mgqa eval``, ``mgqa serve``, ``mgqa bench``.

A thin layer over the library: errors become one line on stderr and an exit code
(2: bad input, 1: anything else); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mgqa import __version__, settings
from mgqa.errors import InvalidQuestion, MgqaError


class Failure(click.ClickException):
    """One line on stderr and an exit code: 2 for bad input, 1 for anything else."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads the instance attribute


def _guard(debug: bool):
    """Map exceptions to one line and an exit code; re-raise everything with --debug."""

    class _Ctx:
        def __enter__(self):
            return self

        def __exit__(self, kind, exc, tb):
            if exc is None or isinstance(exc, (click.ClickException, click.exceptions.Exit,
                                               click.Abort, SystemExit, KeyboardInterrupt)):
                return False
            if isinstance(exc, BrokenPipeError):
                _reader_gone()
            if debug:
                return False
            if isinstance(exc, MgqaError):
                raise Failure(str(exc), exc.exit_code) from None
            raise Failure(f"internal error ({type(exc).__name__}: {exc}); rerun with --debug for details") from None

    return _Ctx()


def _reader_gone() -> None:
    """The reader of stdout went away (``mgqa ask … | head``): nothing is wrong and nothing is left
    to say. stdout is pointed at /dev/null so the interpreter's own final flush cannot fail again;
    the exit status is the shell's for a process ended by SIGPIPE."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(141)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mgqa")
def main() -> None:
    """mgqa answers patients' questions with passages quoted verbatim from the clinic's vetted
    documents, each cited, always with the clinic's medical disclaimer."""


INDEX_HELP = "Index directory [default: MGQA_INDEX_DIR or the bundled index/]."


@main.command()
@click.argument("question", required=False)
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help=INDEX_HELP)
@click.option("-k", "k", type=click.IntRange(1, 20), default=None, help="Passages to show [default: 3].")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON (one object per line).")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def ask(question: str | None, index_dir: Path | None, k: int | None, as_json: bool, debug: bool) -> None:
    """Answer QUESTION from the documents.

    With no QUESTION, read questions from standard input, one per line, loading the model once.
    Questions longer than MGQA_MAX_QUESTION_CHARS (default 1000) characters are refused.
    """
    from mgqa.answer import get_engine, validate

    with _guard(debug):
        if question is not None:
            try:
                validate(question)
            except InvalidQuestion as exc:
                raise Failure(str(exc), 2) from None
            _print(get_engine(index_dir).ask(question, k=k), as_json)
            return
        engine = get_engine(index_dir)
        bad = 0
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                _print(engine.ask(line, k=k), as_json)
            except InvalidQuestion as exc:
                bad += 1
                _print_error(line, str(exc), as_json)
        if bad:
            sys.exit(2)


def _print(answer, as_json: bool) -> None:
    from mgqa.render import answer_text

    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        click.echo(answer_text(answer) + "\n")


def _print_error(line: str, message: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"question": line.strip()[:200], "error": message}, ensure_ascii=False))
    else:
        click.echo(f"Error: {message}", err=True)


@main.group()
def index() -> None:
    """Build or describe an index."""


@index.command("build")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Where to write the index [default: the index directory].")
@click.option("--encoder", type=click.Choice(["auto", "onnx", "torch"]), default=None,
              help="Encoder for passages [default: MGQA_ENCODER or auto].")
@click.option("--synonyms", "synonyms", type=click.Path(dir_okay=False, path_type=Path),
              help="Synonyms file (Solr format) [default: synonyms.txt in the documents' folder].")
@click.option("--known-questions", "known", type=click.Path(dir_okay=False, path_type=Path),
              help="Known patient questions (JSONL, the gold-set format) "
                   "[default: known_questions.jsonl in the documents' folder].")
@click.option("--clinic", "clinic", type=click.Path(dir_okay=False, path_type=Path),
              help="The clinic's words: title, examples, disclaimer, emergency notice (TOML) "
                   "[default: clinic.toml in the documents' folder].")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def index_build(paths: tuple[Path, ...], out: Path | None, encoder: str | None, synonyms: Path | None,
                known: Path | None, clinic: Path | None, debug: bool) -> None:
    """Build an index from PATHS (folders or .md/.txt/.html/.jsonl files).

    With no PATHS, rebuild the default index from the packaged clinic documents.
    Unreadable files are reported and skipped. The previous index stays usable until the new
    one is complete. The vocabulary of the first path's folder (its synonyms.txt, or --synonyms)
    is copied into the index, its known questions (known_questions.jsonl, or
    --known-questions) are checked against the documents and stored with their vectors, and its
    words (clinic.toml, or --clinic) are copied too; a bad line in any of them stops the build
    and names the line.
    """
    from tqdm import tqdm

    from mgqa.embed import get_encoder
    from mgqa.index import build_corpus

    out = out or Path(settings.get("index_dir"))
    with _guard(debug):
        enc = get_encoder(encoder, threads=0)
        bar = tqdm(unit="passage", desc="embedding", file=sys.stderr, disable=None)
        index, skipped = build_corpus(list(paths), out, enc, progress=bar.update,
                                      on_total=lambda n: setattr(bar, "total", n), synonyms=synonyms,
                                      known=known, clinic=clinic)
        bar.close()
        for line in skipped:
            click.echo(line, err=True)
        m = index.manifest
        click.echo(f"indexed {len(m['documents'])} documents as {m['n_chunks']} passages into {out}"
                   + (f" ({len(skipped)} skipped)" if skipped else "") + f"; synonyms: {_synonyms_line(m)}; "
                   f"known questions: {_known_line(m)}; clinic: {_clinic_line(m)}")
        for line in _unanswered_examples(index, enc, out):
            click.echo(line, err=True)


def _unanswered_examples(index, encoder, out_dir: Path) -> list[str]:
    """A warning for each of clinic.toml's example questions that these documents do not answer as
    served: the chat and the widget offer them as buttons, and a patient who clicks one should not
    read "not in our documents" (or the emergency notice)."""
    from mgqa.answer import Engine

    if index.clinic is None or not index.clinic.examples:
        return []
    engine = Engine(index, encoder)
    out = []
    for n, question in enumerate(index.clinic.examples, 1):
        status = engine.ask(question).status
        if status != "answered":
            quoted = json.dumps(question, ensure_ascii=False)
            out.append(f"warning: example {n} of clinic.toml, {quoted}, gets {status} from these documents: "
                       f"patients who click it will not get an answer. Reword it or choose another; "
                       f"`mgqa ask --index {out_dir} {quoted}` shows what they get.")
    return out


@index.command("info")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help=INDEX_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def index_info(index_dir: Path | None, as_json: bool, debug: bool) -> None:
    """Say what an index holds and how it was built."""
    from mgqa.index import build_id, read_manifest

    path = Path(index_dir or settings.get("index_dir"))
    with _guard(debug):
        m = read_manifest(path)
        if as_json:
            click.echo(json.dumps(dict(m, build_id=build_id(m), path=str(path), synonyms=m.get("synonyms")),
                                  ensure_ascii=False, indent=1))
            return
        click.echo(f"index     {path}\nbuild     {build_id(m)} (as /healthz reports it)")
        click.echo(f"format    {m['format_version']} (mgqa {m.get('mgqa_version')}, built {m.get('created')})")
        click.echo(f"model     {m['model']['id']} ({m['model']['dim']}-d, {m['model'].get('encoder')} encoder)")
        click.echo(f"search    {m.get('ann')} over {m.get('n_chunks')} passages; chunking {m.get('chunking')}")
        click.echo(f"corpus    {m.get('corpus')}: {len(m['documents'])} documents")
        click.echo(f"synonyms  {_synonyms_line(m)}")
        click.echo(f"known     {_known_line(m)}")
        click.echo(f"clinic    {_clinic_line(m)}")
        for d in m["documents"][:50]:
            click.echo(f"  {d['id']}: {d['title']} ({d.get('chunks')} passages)")
        if len(m["documents"]) > 50:
            click.echo(f"  … and {len(m['documents']) - 50} more")


def _synonyms_line(manifest: dict) -> str:
    """"<origin>, 30 entries (sha256 1a2b3c4d5e6f)", or "none" for an index built without any."""
    s = manifest.get("synonyms")
    if not s:
        return "none"
    return f"{s['origin']}, {s['entries']} entries (sha256 {s['sha256'][:12]})"


def _known_line(manifest: dict) -> str:
    """"<origin>, 1063 questions (703 answerable, 360 not) (sha256 1a2b3c4d5e6f)", or "none"."""
    k = manifest.get("known_questions")
    if not k:
        return "none"
    from mgqa.known import MIN_PER_PASSAGE, enough

    line = (f"{k['origin']}, {k['entries']} questions ({k['answerable']} answerable, {k['unanswerable']} not) "
            f"(sha256 {k['sha256'][:12]})")
    if not enough(k["answerable"], manifest.get("n_chunks", 0)):
        line += (f"; not used: fewer than {MIN_PER_PASSAGE} answerable per passage, where a few made answers "
                 "worse (docs/QUALITY.md)")
    return line


def _clinic_line(manifest: dict) -> str:
    """"<origin>: "Magnesium questions", 4 examples, emergency number 999 (sha256 1a2b3c4d5e6f)",
    or the generic wording's line for an index built without a clinic file."""
    c = manifest.get("clinic")
    if not c:
        return "none (mgqa's generic wording)"
    number = f"emergency number {c['emergency_number']}" if c.get("emergency_number") else "no emergency number"
    return f"{c['origin']}: {json.dumps(c['title'], ensure_ascii=False)}, {c['examples']} examples, {number} " \
           f"(sha256 {c['sha256'][:12]})"


@main.command("settings")
def show_settings() -> None:
    """List every setting, its environment variable, default and current value."""
    for s in settings.SETTINGS:
        click.echo(f"{s.env:26} default {s.default!r}\n{'':26} now     {settings.get(s.name)!r}\n{'':26} {s.help}")


@main.command("prepare")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def prepare(debug: bool) -> None:
    """Export the bundled model to ONNX once for fast start-up (run by `make install`)."""
    from mgqa.embed import export_onnx

    with _guard(debug):
        click.echo(f"fast encoder ready: {export_onnx()}")


@main.command()
@click.option("--host", default=None, help="Address to bind [default: MGQA_HOST or 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [default: MGQA_PORT or 7860].")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Server processes sharing the port [default: MGQA_WORKERS or 1].")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def serve(host: str | None, port: int | None, workers: int | None, debug: bool) -> None:
    """Serve the web chat at /, the JSON API at /api/ask, /healthz and /widget.js.

    A new build of the index (`mgqa index build --out` the served directory) is picked up within
    MGQA_RELOAD_SECONDS (default 1 s), or at once on SIGHUP, without a restart; a build that fails
    verification is not loaded and the log says why. With --workers N, each process reloads itself
    and the index files are shared between them through the page cache.
    """
    from mgqa.serve.server import serve as run_server

    with _guard(debug):
        run_server(host or settings.get("host"), port or settings.get("port"), workers or settings.get("workers"))


@main.command("eval")
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="BEIR corpus.jsonl (id, title, text). Without it, run the gold set.")
@click.option("--queries", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="queries.jsonl (id, text).")
@click.option("--qrels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="qrels TSV with header `query-id corpus-id score`.")
@click.option("--run-out", type=click.Path(dir_okay=False, path_type=Path), help="Write the full pipeline's TREC run here.")
@click.option("--limit", type=int, default=None, help="Evaluate only the first N queries.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help=INDEX_HELP)
@click.option("--gold", "gold_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A gold set of your own (JSONL, as src/mgqa/data/gold.jsonl) [default: the packaged one].")
@click.option("--triage", "triage_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Score emergency triage on a JSONL set (q, kind emergency|benign, category) instead.")
@click.option("--docs", "docs_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A clinic's folder: build a temporary index of it (with its synonyms, known questions and "
                   "clinic.toml), serve it, and ask every --gold question with its history through /api/ask.")
@click.option("--failures", is_flag=True, help="List the gold questions (or triage messages) the pipeline gets wrong.")
@click.option("--sweep", is_flag=True, help="Print the abstention threshold trade-off table.")
@click.option("--compare", is_flag=True,
              help="Also run the pipeline without the known questions and without the answer judge, in the same "
                   "run, and show them side by side.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def eval_cmd(corpus, queries, qrels, run_out, limit, index_dir, gold_file, triage_file, docs_dir, failures, sweep,
             compare, as_json, debug) -> None:
    """Measure answer quality (gold set), emergency triage (--triage) or retrieval quality (BEIR-style corpus).

    Gold set: Hit@1, Hit@3, MRR, abstention precision/recall, emergency recall, false triggers.
    A clinic's folder (--docs DIR --gold FILE): the same figures, as the served index gives them;
    --compare adds the pipeline's ranking alone (whether or not it answered) and plain fusion's
    ranking of the same passages.
    Triage set: recall per red-flag category, false alarms per kind of benign message, and the
    model's threshold trade-off (a rule match always counts).
    Corpus: nDCG@10, Recall@10, MRR@10 at document level for the full pipeline, lexical-only and
    dense-only; the corpus index is built once and cached under MGQA_CACHE_DIR.
    --compare adds the pipeline with the judge alone (no known questions) and without the judge
    (gold set; a corpus has no known questions, so only the latter).
    """
    from mgqa import evaluate

    with _guard(debug):
        if triage_file:
            _eval_triage(triage_file, failures, as_json, evaluate)
        elif docs_dir:
            if not gold_file:
                raise click.UsageError("--docs needs --gold: the clinic's questions, in the gold-set format")
            _eval_docs(docs_dir, gold_file, failures, compare, as_json, evaluate)
        elif corpus:
            if not (queries and qrels):
                raise click.UsageError("--corpus needs --queries and --qrels")
            _eval_beir(corpus, queries, qrels, run_out, limit, compare, as_json)
        else:
            _eval_gold(index_dir, gold_file, failures, sweep, compare, as_json, evaluate)


def _eval_gold(index_dir, gold_file, failures, sweep, compare, as_json, evaluate) -> None:
    from mgqa.answer import get_engine

    gold = evaluate.load_gold(gold_file)  # checked before the engine loads
    engine = get_engine(index_dir)
    report = evaluate.run_gold(engine, gold)
    runs = {"with judge": report.metrics()}
    if compare and engine.known is not None:
        runs["judge, no known questions"] = evaluate.run_gold(engine.without_known(), gold).metrics()
    if compare:
        runs["without judge"] = evaluate.run_gold(engine.without_judge(), gold).metrics()
    known = evaluate.known_count(engine, gold)
    if as_json:
        click.echo(json.dumps(dict(runs, known_questions=known) if compare else dict(runs["with judge"],
                                                                                   known_questions=known)))
        return
    counts = {k: sum(r["kind"] == k for r in report.rows) for k in ("answerable", "unanswerable", "emergency", "benign")}
    click.echo("gold set: " + ", ".join(f"{v} {k}" for k, v in counts.items())
               + ("" if engine.judge else " (the answer judge is off: MGQA_JUDGE, or not trained for this encoder)"))
    if known:
        click.echo(f"in-sample: {known} of these {len(gold)} questions are among the index's known questions, "
                   "so they vote for their own answers; the figures are not a measure of new questions")
    names = {"with judge": "full pipeline" if engine.known is not None else "with the judge",
             "judge, no known questions": "judge alone", "without judge": "without the judge"}
    heads = [names[r] for r in runs] if len(runs) > 1 else ["value"]
    click.echo("| metric | " + " | ".join(heads) + " |\n|---|" + "---|" * len(runs))
    for name in runs["with judge"]:
        click.echo(f"| {name} | " + " | ".join(f"{m[name]:.3f}" for m in runs.values()) + " |")
    if sweep:
        what = "answer probability" if engine.judge else "cosine"
        thresholds = ([round(0.05 * i, 2) for i in range(1, 20)] if engine.judge
                      else [round(0.20 + 0.025 * i, 3) for i in range(13)])
        click.echo(f"\n| {what} threshold | answered (answerable) | Hit@1 | abstention recall |\n|---|---|---|---|")
        for row in evaluate.sweep(report, thresholds):
            click.echo("| " + " | ".join(f"{v:.3f}" for v in row.values()) + " |")
    if failures:
        _print_failures(report)


def _print_failures(report) -> None:
    for r in report.failures():
        top = r["json"]["passages"][0]["text"][:90] if r["json"].get("passages") else "-"
        click.echo(f"\n{r['id']} [{r['kind']}] {r['question']!r}: status {r['status']}, rank {r['rank']}, "
                   f"top cosine {r['top_cosine'] if r['top_cosine'] is None else round(r['top_cosine'], 3)}\n   top: {top!r}")


def _print_metrics(metrics: dict[str, float]) -> None:
    click.echo("| metric | value |\n|---|---|")
    for name, value in metrics.items():
        click.echo(f"| {name} | {value:.3f} |")


def _eval_docs(docs_dir, gold_file, failures, compare, as_json, evaluate) -> None:
    from mgqa.embed import get_encoder

    gold = evaluate.load_gold(gold_file)  # checked before anything is built
    reports, skipped = evaluate.run_docs(docs_dir, gold, get_encoder(threads=0), compare)
    served = reports["served"]
    runs = {"served": served.metrics()}
    if compare:
        runs["ranking alone"] = evaluate.ranking_metrics(reports["ranking"])
        runs["plain fusion"] = evaluate.ranking_metrics(reports["plain fusion"])
    if as_json:
        click.echo(json.dumps({**runs, "skipped": skipped}))
        return
    counts = {k: sum(r["kind"] == k for r in served.rows) for k in ("answerable", "unanswerable", "emergency", "benign")}
    click.echo(f"{docs_dir}, served, asked through /api/ask: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
               + f" ({sum(bool(g.get('history')) for g in gold)} with history)")
    for line in skipped:
        click.echo(f"skipped: {line}")
    _print_metrics(runs["served"])
    if compare:
        click.echo("\nthe same pipeline's ranking alone (whether or not it answered):")
        _print_metrics(runs["ranking alone"])
        click.echo("\nplain fusion of the same passages (MiniLM + BM25, no judge, no known questions), ranking alone:")
        _print_metrics(runs["plain fusion"])
    if failures:
        _print_failures(served)


TRADE_OFF = [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def _eval_triage(path, failures, as_json, evaluate) -> None:
    from mgqa.embed import get_encoder
    from mgqa.triage import Triager

    items = evaluate.load_triage_set(path)  # checked before the model loads
    encoder = get_encoder(threads=0)
    report = evaluate.run_triage(Triager.for_encoder(encoder), encoder, items)
    t = report.threshold
    thresholds = sorted(set(TRADE_OFF) | ({round(t, 4)} if t is not None else set()))
    if as_json:
        click.echo(json.dumps({"threshold": t, **report.totals(),
                               "per_category": [dict(zip(("kind", "category", "flagged", "messages"), g, strict=True))
                                                for g in report.per_category()],
                               "trade_off": report.trade_off(thresholds)}))
        return
    tot = report.totals()
    click.echo(f"triage set {path}: {tot['emergencies']} emergencies, {tot['benign']} benign; "
               f"operating threshold {t if t is not None else '(rules only)'}")
    click.echo(f"recall {tot['recall']:.3f} (rules alone {tot['by rule']:.3f}), false alarms {tot['false alarms']:.3f}")
    if tot["ordinary questions"]:
        click.echo(f"false alarms on {tot['ordinary questions']} ordinary questions "
                   f"{tot['false alarms, ordinary questions']:.3f}, on the other "
                   f"{tot['benign'] - tot['ordinary questions']} benign messages {tot['false alarms, other benign']:.3f}")
    click.echo("\n| kind | category | flagged | messages | rate |\n|---|---|---|---|---|")
    for kind, cat, f, n in report.per_category():
        click.echo(f"| {kind} | {cat} | {f} | {n} | {f / n:.2f} |")
    click.echo("\nrate: recall for emergencies, false-alarm rate for benign messages")
    click.echo("\n| threshold | recall | false alarms |\n|---|---|---|")
    for row in report.trade_off(thresholds):
        mark = " (operating)" if t is not None and row["threshold"] == round(t, 4) else ""
        click.echo(f"| {row['threshold']}{mark} | {row['recall']:.3f} | {row['false alarms']:.3f} |")
    if failures:
        for r in report.missed():
            what = "missed" if r["kind"] == "emergency" else "false alarm"
            score = "-" if r["score"] is None else f"{r['score']:.3f}"
            click.echo(f"\n{what} [{r['category']}] score {score}, rule {r['rule']}: {r['q']!r}")


def _eval_beir(corpus, queries, qrels, run_out, limit, compare, as_json) -> None:
    from tqdm import tqdm

    from mgqa import evaluate
    from mgqa.answer import Engine
    from mgqa.embed import get_encoder

    encoder = get_encoder(threads=0)
    bar = tqdm(unit="passage", desc="indexing corpus", file=sys.stderr, disable=None)
    index = evaluate.corpus_index(corpus, encoder, Path(settings.get("cache_dir")), progress=bar.update)
    bar.close()
    qs = evaluate.read_queries(queries)
    if limit:
        qs = dict(list(qs.items())[:limit])
    engine = Engine(index, encoder)
    baseline = engine.without_judge() if compare else None
    results = evaluate.run_beir(engine, qs, evaluate.read_qrels(qrels), run_out, baseline)
    if as_json:
        click.echo(json.dumps(results))
        return
    click.echo(f"{len(qs)} queries, {len(index.manifest['documents'])} documents, {len(index.chunks)} passages")
    click.echo("| retriever | nDCG@10 | Recall@10 | MRR@10 |\n|---|---|---|---|")
    names = {"hybrid": "mgqa (full pipeline)" + ("" if engine.judge else ", answer judge off"),
             "lexical": "lexical only (BM25)", "dense": "dense only (FAISS)",
             evaluate.NO_JUDGE: "mgqa without the answer judge"}
    for mode, m in results.items():
        click.echo(f"| {names[mode]} | {m['nDCG@10']:.3f} | {m['Recall@10']:.3f} | {m['MRR@10']:.3f} |")


@main.command()
@click.option("--quick", is_flag=True, help="Few repetitions and small corpora (the smoke test uses this).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("docs/PERFORMANCE.md"),
              show_default=True, help="Where to write the table.")
@click.option("--only", multiple=True, help="Run only these parts (repeatable), e.g. --only cold --only warm.")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def bench(quick: bool, out: Path, only: tuple[str, ...], debug: bool) -> None:
    """Measure cold start, warm latency, index build, scale and serving; print and save the table."""
    from mgqa.bench import run

    with _guard(debug):
        run(quick=quick, out=out, only=list(only))
