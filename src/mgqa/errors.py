"""mgqa's own exceptions. Interfaces map them: CLI exit codes, HTTP status, chat messages."""


class MgqaError(Exception):
    """Base class: ``str(error)`` is one line a user can act on."""

    exit_code = 1
    http_status = 500


class InvalidQuestion(MgqaError):
    """Empty, whitespace-only or otherwise unusable question."""

    exit_code = 2
    http_status = 422


class QuestionTooLong(InvalidQuestion):
    pass


class IndexError_(MgqaError):
    """Base for index problems; message names the fix."""

    http_status = 503


class IndexNotFound(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


class StaleIndex(IndexError_):
    pass


class IndexMismatch(IndexError_):
    """The index was built with another model, dimension or format."""


class IngestError(MgqaError):
    """A document source could not be read at all (the whole run, not one file)."""

    exit_code = 2


class EncoderError(MgqaError):
    pass


class Overloaded(MgqaError):
    http_status = 503


class EvalInputError(MgqaError):
    """An evaluation file that cannot be used: a gold set, queries or qrels that are unreadable or
    malformed, or a gold answer that is not verbatim in the indexed documents."""

    exit_code = 2


class SynonymsError(MgqaError):
    """A synonyms file that cannot be used: unreadable, not UTF-8, or a malformed line (named)."""

    exit_code = 2


class KnownQuestionsError(MgqaError):
    """A known-questions file that cannot be used: unreadable, not UTF-8, a malformed line, or an
    answer that is not verbatim in the documents (each named by its line)."""

    exit_code = 2


class ClinicError(MgqaError):
    """A clinic file (clinic.toml) that cannot be used: unreadable, not TOML, an unknown key or a
    bad value (each named by its line)."""

    exit_code = 2
