"""Side by side on the generated labelled corpus (tests/support/pii_corpus.py): podforge's detector, Microsoft
Presidio and cn-pii-anonymization. One table: per tool and comparable category, precision/recall, and throughput
in MB/s per core (UTF-8 bytes per CPU second of this process, the fastest of `repeat` runs), plus podforge's
speed ratio over Presidio. Goal: ≥ 10× Presidio's throughput at equal or better precision on every compared
category.

Presidio runs offline as the package ships it for that: presidio-analyzer's predefined recognizers with its
`no_op` NLP engine, which loads no model (presidio_analyzer/nlp_engine/no_op_nlp_engine.py, 2.2.366: "intended
for AnalyzerEngine configurations where all active recognizers are self-contained and do not require NLP
artifacts"); its spaCy models are in no registry here, so PERSON and LOCATION (NER) are not produced. Two
settings are ours, both to let it see this corpus: the phone recognizer gets region CN besides its defaults
(the corpus' phone numbers are Chinese), and tldextract (the e-mail recognizer's domain check) uses its bundled
public-suffix snapshot instead of downloading the list. Every result counts, whatever its score (Presidio's
default threshold, 0).

Categories are compared only where the other tool has one for the same thing: CREDIT_CARD ↔ bank_card,
EMAIL_ADDRESS ↔ email, IP_ADDRESS ↔ ip_address, US_SSN ↔ social_security, US_PASSPORT ↔ passport, and
PHONE_NUMBER ↔ mobile and landline merged into one `phone` row (for both tools). Podforge's other categories
have no Presidio counterpart (NO_COUNTERPART). A tool's results in categories outside the table are left out
(they are neither hits nor false alarms). Scores: exact span (category, start, end), as the desensitize
benchmark scores; and "overlap", where a result counts as a hit if it overlaps a gold value of its category,
so that a different convention for where a value ends (a `+86` prefix, a separator) is not scored as a miss.

The packages are benchmark-only and pinned in requirements-bench.lock (`pip install --no-deps -r
requirements-bench.lock` on top of requirements.lock). When one is not importable the table says so, with the
reason; only `--require` (or run(require=True)) turns that into a failure.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import sys
import time
import warnings
from collections.abc import Callable

from components.gateway.desensitize import IDS, scan
from tests.support.pii_corpus import Sample, corpus

SIZES = (1000,)
GOAL_RATIO = 10.0
BENCH_LOCK = "requirements-bench.lock"
INSTALL = f"pip install --no-deps -r {BENCH_LOCK}"

Predict = Callable[[str], list[tuple[str, int, int]]]

# Presidio entity → the compared category (podforge's name; `phone` is mobile and landline together).
PRESIDIO_MAP = {"CREDIT_CARD": "bank_card", "EMAIL_ADDRESS": "email", "IP_ADDRESS": "ip_address",
                "US_SSN": "social_security", "US_PASSPORT": "passport", "PHONE_NUMBER": "phone"}
OURS_MAP = {c: c for c in PRESIDIO_MAP.values() if c != "phone"} | {"mobile": "phone", "landline": "phone"}
COMPARED = ("bank_card", "email", "ip_address", "social_security", "passport", "phone")
NO_COUNTERPART = tuple(c for c in IDS if c not in OURS_MAP)

CN_PII_REASON = ("cn-pii-anonymization 0.1.6 not run: it requires Python >= 3.12 (this project pins >= 3.11, < 3.12), "
                 "pins presidio-analyzer==2.2.361, fastapi==0.129.0, pydantic==2.12.5 and click==8.3.1 against "
                 "requirements.lock, and its name and address recognizers load PaddleNLP Taskflow models (LAC, UIE) "
                 "that are downloaded on first use, which cannot happen offline")


def _relabel(found: list[tuple[str, int, int]], mapping: dict[str, str]) -> set[tuple[str, int, int]]:
    return {(mapping[c], s, e) for c, s, e in found if c in mapping}


def _ours(text: str) -> list[tuple[str, int, int]]:
    return [(f.category, f.start, f.end) for f in scan(text)]


def presidio() -> tuple[Predict | None, str]:
    """Presidio's predictor, or None and why not."""
    if importlib.util.find_spec("presidio_analyzer") is None:
        return None, f"presidio-analyzer not installed ({INSTALL})"
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    # Offline: the public-suffix list from the package's snapshot (suffix_list_urls empty, no cache directory).
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    nlp = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "no_op",
                                               "models": [{"lang_code": "en", "model_name": "no_op"}]}).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(PhoneRecognizer(supported_regions=("CN", *PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS)))
    with warnings.catch_warnings():  # "LemmaContextAwareEnhancer cannot use context words … with NoOpNlpEngine"
        warnings.simplefilter("ignore", UserWarning)
        engine = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
    def predict(text: str) -> list[tuple[str, int, int]]:
        return [(r.entity_type, r.start, r.end) for r in engine.analyze(text, language="en")]

    return predict, f"presidio-analyzer {importlib.metadata.version('presidio-analyzer')}"


def cn_pii() -> tuple[Predict | None, str]:
    if importlib.util.find_spec("cn_pii_anonymization") is None:
        return None, CN_PII_REASON
    return None, "cn-pii-anonymization is importable, but not run: " + CN_PII_REASON.split(": ", 1)[1]


class Tally:
    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def cell(self) -> str:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        return f"{p:.3f}/{r:.3f}"

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0


def scores(samples: list[Sample], predict: Predict, mapping: dict[str, str]) -> dict[str, tuple[Tally, Tally]]:
    """Per compared category: (exact-span tally, overlap tally)."""
    out = {c: (Tally(), Tally()) for c in COMPARED}
    for sample in samples:
        gold = _relabel(sample.spans, OURS_MAP)
        found = _relabel(predict(sample.text), mapping)
        for c, s, e in found:
            exact, overlap = out[c]
            if (c, s, e) in gold:
                exact.tp += 1
            else:
                exact.fp += 1
            if any(gc == c and gs < e and s < ge for gc, gs, ge in gold):
                overlap.tp += 1
            else:
                overlap.fp += 1
        for c, s, e in gold:
            exact, overlap = out[c]
            exact.fn += (c, s, e) not in found
            overlap.fn += not any(fc == c and fs < e and s < fe for fc, fs, fe in found)
    return out


def throughput(text: str, predict: Predict, repeat: int) -> float:
    """MB/s per core: UTF-8 bytes over the CPU time of this process, the fastest of `repeat` runs."""
    size = len(text.encode("utf-8")) / 1e6
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        predict(text)
        best = min(best, time.process_time() - start)
    return size / best


def run(sizes: list[int] | None = None, repeat: int = 3, require: bool = False) -> int:
    """Print the table; return the goals missed (1 more when `require` and a tool is missing)."""
    n = (sizes or SIZES)[0]
    samples = corpus(n)
    text = "\n".join(s.text for s in samples)
    theirs, presidio_name = presidio()
    _, cn_pii_line = cn_pii()
    print(f"desensitization side by side: {n} generated samples, {len(text.encode('utf-8')) / 1e6:.2f} MB, "
          "one process, CPU time")
    rows = [("podforge", _ours, OURS_MAP)] + ([(presidio_name, theirs, PRESIDIO_MAP)] if theirs else [])
    table = {name: scores(samples, predict, mapping) for name, predict, mapping in rows}
    speed = {name: throughput(text, predict, repeat) for name, predict, _ in rows}
    head = f"{'tool':26} {'category':16} {'P/R exact':>12} {'P/R overlap':>12} {'MB/s per core':>14}"
    print(head)
    print("-" * len(head))
    for name, _, _ in rows:
        for i, category in enumerate(COMPARED):
            exact, overlap = table[name][category]
            mb = f"{speed[name]:.2f}" if i == 0 else ""
            print(f"{name:26} {category:16} {exact.cell():>12} {overlap.cell():>12} {mb:>14}")
    if not theirs:
        print(f"{'presidio':26} {presidio_name}")
    print(f"{'cn-pii-anonymization':26} {cn_pii_line}")
    print(f"no Presidio counterpart: {', '.join(NO_COUNTERPART)}")
    if not theirs:
        print("speed ratio over Presidio: not measured (Presidio not installed)")
        return int(require)
    ratio = speed["podforge"] / speed[presidio_name]
    worse = [c for c in COMPARED if table["podforge"][c][0].precision < table[presidio_name][c][0].precision]
    print(f"speed ratio over Presidio: {ratio:.1f}x (goal ≥ {GOAL_RATIO:.0f}x)")
    print(f"{'met   ' if ratio >= GOAL_RATIO else 'MISSED'}  throughput ≥ {GOAL_RATIO:.0f}x Presidio's ({ratio:.1f}x)")
    print(f"{'met   ' if not worse else 'MISSED'}  precision (exact) equal or better than Presidio's on every "
          f"compared category{'' if not worse else ' — worse on ' + ', '.join(worse)}")
    return (ratio < GOAL_RATIO) + bool(worse)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.desensitize_compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", help=f"corpus samples (default {SIZES[0]})")
    parser.add_argument("--repeat", type=int, default=3, help="runs per throughput measurement; the fastest counts")
    parser.add_argument("--require", action="store_true",
                        help=f"fail (exit 1) when Presidio is not installed ({INSTALL})")
    args = parser.parse_args(argv)
    return 1 if run(sizes=args.sizes, repeat=args.repeat, require=args.require) else 0


if __name__ == "__main__":
    sys.exit(main())
