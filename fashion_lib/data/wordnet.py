"""WordNet for FashionSAP's token replacement (antonyms) and attribute augmentation (synonyms).

No PyPI package ships the WordNet database, and nltk's own downloader needs the network. Debian's
``wordnet-base`` (Princeton WordNet 3.0) plus ``wordnet-sense-index`` carry the same files in
``/usr/share/wordnet``; nltk additionally needs a ``lexnames`` file (the fixed list of
lexnames(5WN)) and refuses symlinks that leave its corpus root, so `build_wordnet_corpus` copies the
files into an nltk data folder and writes ``lexnames`` itself.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from fashion_lib.atomic import atomic_dir
from fashion_lib.errors import FashionLibError
from fashion_lib.paths import nltk_data_dir

DEBIAN_WORDNET = Path("/usr/share/wordnet")
DEBIAN_COPYRIGHT = Path("/usr/share/doc/wordnet-base/copyright")
DEBIAN_PACKAGES = ("wordnet-base", "wordnet-sense-index")
SETUP_COMMAND = "python -m fashion_lib setup wordnet"

#: The 45 lexicographer files of WordNet 3.0 in number order, from lexnames(5WN).
LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
#: lexnames(5WN) syntactic category numbers: 1 noun, 2 verb, 3 adjective, 4 adverb.
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

_POS = ("noun", "verb", "adj", "adv")
#: The files nltk's WordNetCorpusReader opens (``lexnames`` is written, not copied).
REQUIRED_FILES = (
    "index.sense",
    *(f"index.{p}" for p in _POS),
    *(f"data.{p}" for p in _POS),
    *(f"{p}.exc" for p in _POS),
)


def lexnames_text() -> str:
    """The ``lexnames`` file nltk expects: ``NN<TAB>name<TAB>category`` per line."""
    lines = (
        f"{i:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}"
        for i, name in enumerate(LEXNAMES)
    )
    return "\n".join(lines) + "\n"


def _missing_error(source: Path, missing: list[str]) -> FashionLibError:
    packages = " ".join(DEBIAN_PACKAGES)
    return FashionLibError(
        f"WordNet is not available: {source} lacks {', '.join(missing)} and nltk has no "
        f"'corpora/wordnet'. Install the Debian packages {packages} (as root: apt-get install -y "
        f"--no-install-recommends {packages}), then run `{SETUP_COMMAND}`."
    )


def build_wordnet_corpus(dest: Path, source: Path = DEBIAN_WORDNET) -> Path:
    """Copy Debian's WordNet files into an nltk data folder, atomically.

    Args:
        dest: an nltk data root; the corpus lands in ``dest/corpora/wordnet``.
        source: the folder holding Debian's WordNet files.

    Returns:
        The corpus folder ``dest/corpora/wordnet``.

    Raises:
        FashionLibError: a required file is missing from `source` (names the packages to install).
    """
    source, target = Path(source), Path(dest) / "corpora" / "wordnet"
    missing = [name for name in REQUIRED_FILES if not (source / name).is_file()]
    if missing:
        raise _missing_error(source, missing)
    with atomic_dir(target) as tmp:
        for path in sorted(source.iterdir()):
            if path.is_file():  # copyfile follows symlinks: nltk rejects links leaving its root
                shutil.copyfile(path, tmp / path.name)
        (tmp / "lexnames").write_text(lexnames_text(), encoding="utf-8")
        if DEBIAN_COPYRIGHT.is_file():  # the Princeton licence travels with the data
            shutil.copyfile(DEBIAN_COPYRIGHT, tmp / "LICENSE")
    return target


def setup_wordnet() -> Path:
    """Build the project's WordNet corpus from ``/usr/share/wordnet``; installs nothing.

    Returns:
        The corpus folder under `fashion_lib.paths.nltk_data_dir`.
    """
    return build_wordnet_corpus(nltk_data_dir(), DEBIAN_WORDNET)


def ensure_wordnet(source: Path = DEBIAN_WORDNET) -> str:
    """Make ``nltk.corpus.wordnet`` loadable and say where it comes from.

    nltk's own WordNet (any folder on ``nltk.data.path``) wins; otherwise the project's folder
    `nltk_data_dir()` is used, built from `source` on first use.

    Args:
        source: Debian's WordNet folder, used only when the project's corpus must be built.

    Returns:
        The location of the corpus nltk will read.

    Raises:
        FashionLibError: neither nltk's WordNet nor the Debian files exist.
    """
    import nltk

    root = nltk_data_dir()
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))
    try:
        return str(nltk.data.find("corpora/wordnet"))
    except LookupError:
        pass
    missing = [name for name in REQUIRED_FILES if not (Path(source) / name).is_file()]
    if missing:
        raise _missing_error(Path(source), missing)
    return str(build_wordnet_corpus(root, Path(source)))


@functools.cache
def _wordnet():  # nltk's reader has no public type to annotate with
    ensure_wordnet()
    from nltk.corpus import wordnet

    wordnet.ensure_loaded()
    return wordnet


def _words(names: list[str], exclude: str) -> list[str]:
    """Lemma names as plain words (underscores to spaces), in order, without duplicates."""
    out: list[str] = []
    for name in names:
        word = name.replace("_", " ").lower()
        if word != exclude and word not in out:
            out.append(word)
    return out


def antonyms(word: str) -> list[str]:
    """WordNet antonyms of `word`: direct lemma antonyms first, then indirect ones.

    Indirect antonyms follow WordNet's adjective clusters: a satellite adjective ("casual") has no
    antonym of its own, but its head adjective ("informal", via ``similar_tos``) has one ("formal").

    Args:
        word: a single word, any case.

    Returns:
        Antonyms as lower-case words (multi-word lemmas with spaces), without duplicates.
    """
    return list(_antonyms(word.lower()))


@functools.lru_cache(maxsize=65536)
def _antonyms(key: str) -> tuple[str, ...]:
    wn = _wordnet()
    direct: list[str] = []
    indirect: list[str] = []
    for synset in wn.synsets(key):
        for lemma in synset.lemmas():
            if lemma.name().lower() == key:
                direct += [a.name() for a in lemma.antonyms()]
        for head in synset.similar_tos() if synset.pos() == "s" else ():
            indirect += [a.name() for lemma in head.lemmas() for a in lemma.antonyms()]
    return tuple(_words(direct + indirect, key))


def synonyms(word: str) -> list[str]:
    """WordNet synonyms of `word`: the other lemmas of its synsets, most frequent sense first.

    Args:
        word: a single word, any case.

    Returns:
        Synonyms as lower-case words (multi-word lemmas with spaces), without duplicates.
    """
    return list(_synonyms(word.lower()))


@functools.lru_cache(maxsize=65536)
def _synonyms(key: str) -> tuple[str, ...]:
    names = [lemma.name() for synset in _wordnet().synsets(key) for lemma in synset.lemmas()]
    return tuple(_words(names, key))
