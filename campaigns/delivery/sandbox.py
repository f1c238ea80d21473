"""The Jinja2 sandbox every mail template renders in, and the limits that make one render's cost bounded.

The immutable sandbox of Jinja2 keeps templates away from Python internals; this module adds what it does not
bound: the size of what a template computes and the work one render may do. Marketers (and API keys) write
templates, contacts' data comes from forms and imports: a template that is fast on sample data must not take
a worker for minutes, or a gigabyte, on one contact's data.

- Sizes, bounded where they are made: no value a template computes (`*`, `+`, `~`, `%`, `str.format`,
  `format`, `center`, `ljust`, `replace`, `join`, `indent`, `wordwrap`, `batch`, ... ) may exceed
  MAX_VALUE characters or items, checked BEFORE the C code that would build it runs wherever the size can
  be known ahead (a C-level `'x' * 10**9` or `9 ** 9 ** 9` cannot be interrupted once started); numbers
  stay under MAX_INT_BITS. Text blocks (the whole mail, `{% set %}` and macro bodies) stop at MAX_OUTPUT.
- Work, counted: every loop round, call, filter and 16 characters of text cost one step of a per-render
  budget (RENDER_STEPS); past it, or past the render's CPU time (checked every few thousand steps, so an
  ordinary mail never reads the clock), the render raises RenderLimitError. No signal, no thread, no trace
  function: the counter rides on the calls the sandbox already intercepts and on the loops the code
  generator wraps, so a send that meets it fails alone and quickly.
- Text, only from plain values: strings, numbers and None (shown as "") become text; anything else
  (a function, a method, `self`, `lipsum`, `cycler`, a list, a dict) is refused with a reason instead of
  showing its Python repr (memory addresses, internal names) in a preview or a mail.

Used by campaigns.delivery.rendering (compile, trial render, send-time render, previews), nothing else.
"""

from __future__ import annotations

import functools
import itertools
import re
import string
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import ChainableUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.filters import make_attrgetter
from jinja2.runtime import BlockReference, Context, LoopContext, Macro, Undefined, markup_join, str_join
from jinja2.sandbox import (
    MAX_RANGE,
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    SecurityError,
)
from jinja2.utils import generate_lorem_ipsum
from markupsafe import Markup

MAX_VALUE = 100_000  # characters (or items) of any one value a template computes
MAX_OUTPUT = 4_000_000  # characters of one rendered mail, all parts (a large newsletter is ~100,000)
MAX_INT_BITS = 4_096  # ~1,233 digits: no mail shows a longer number, and longer ones get slow to compute
MAX_EXPONENT = 64
RENDER_STEPS = 500_000  # loop rounds, calls, filters and 16-character pieces of text per render
RENDER_SECONDS = 2.0  # CPU time one render may use (delivery passes Settings.render_seconds)
_CHARS_PER_STEP = 16
# A call through the sandbox (a method, a macro, a recursive loop) costs ~100 loop rounds of CPU, an operator
# or a filter a few: weighted so that the step budget tracks CPU time (500,000 steps: 0.05 to 0.8 s here).
_CALL_STEPS = 8
_OPERATOR_STEPS = 2
_CHECK_EVERY = 8_192  # steps between reads of the CPU clock (a read costs microseconds on some hosts)


class RenderLimitError(SecurityError):
    """A render that did more work than one mail may (steps or CPU time); only that render fails."""


class _Budget:
    __slots__ = ("left", "next_check", "seconds", "deadline")

    def __init__(self, steps: int, seconds: float) -> None:
        self.left = steps
        self.next_check = steps - _CHECK_EVERY
        self.seconds = seconds
        self.deadline = -1.0  # set at the first check: most mails are done before it


class _State(threading.local):
    # Outside a render (nothing calls sandbox code there) a shared, generous default keeps charge() simple.
    budget = _Budget(RENDER_STEPS, RENDER_SECONDS)
    seconds = RENDER_SECONDS  # what the next render in this thread may use


_state = _State()


def charge(steps: int) -> None:
    """Count work against the current render's budget; raise RenderLimitError past it (sandbox hooks)."""
    budget = _state.budget
    budget.left -= steps
    if budget.left < budget.next_check:
        _check(budget)


def _check(budget: _Budget) -> None:
    if budget.left < 0:
        raise RenderLimitError(f"takes too long to render (more than {RENDER_STEPS:,} steps: loop rounds, "
                               "calls and text)")
    now = time.thread_time()  # CPU time of this thread: a busy machine does not make a render fail
    if budget.deadline < 0:
        budget.deadline = now + budget.seconds
    elif now > budget.deadline:
        raise RenderLimitError(f"takes too long to render (more than {budget.seconds:g} s of processing time)")
    budget.next_check = budget.left - _CHECK_EVERY


def render(template: Any, context: Mapping[str, Any], cpu_seconds: float = RENDER_SECONDS) -> str:
    """Render a template of this sandbox with a CPU time limit (rendering: trial, send time, previews)."""
    _state.seconds = cpu_seconds
    return str(template.render(context))


class _BudgetContext(Context):
    """A render's context: creating it (the first thing every render does) starts the render's budget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _state.budget = _Budget(RENDER_STEPS, _state.seconds)


# ---------------------------------------------------------------- sizes
_SIZED = (str, bytes, list, tuple, dict, set, frozenset)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, _SIZED) else 0


def _too_long() -> SecurityError:
    return SecurityError(f"the result would be longer than {MAX_VALUE:,} characters")


def _deep_size(value: Any, limit: int = MAX_VALUE) -> int:
    """Items and characters in a nested list/tuple/dict, counted until past `limit` (a list of one big list
    repeated is as big as all its copies: `[[0] * 100000] * 100000` is ten billion items to a sort)."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            if total > limit:
                return total
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 * len(item)
            if total > limit:
                return total
            stack.extend(item.keys())
            stack.extend(item.values())
        if total > limit:
            return total
    return total


def _too_big_number() -> SecurityError:
    return SecurityError(f"numbers longer than {MAX_INT_BITS * 30103 // 100000:,} digits are not allowed")


# ---------------------------------------------------------------- text
_SHOWN = (str, int, float, Undefined)  # Markup is a str, bool an int


def _not_text(value: Any) -> SecurityError:
    if isinstance(value, list | tuple | set | frozenset | range | Iterator):
        return SecurityError('a list cannot be shown as text: use | join(", ")')
    if isinstance(value, Mapping):
        return SecurityError("a dictionary cannot be shown as text: show one of its values "
                             "(e.g. contact.attributes.plan)")
    return SecurityError("a function or internal object cannot be shown as text")


def require_text(*values: Any) -> None:
    """Refuse values whose text would be a Python repr (functions, `self`, lists...); sandbox hooks."""
    for value in values:
        if value is not None and not isinstance(value, _SHOWN):
            raise _not_text(value)


def _finalize(value: Any) -> Any:
    """What `{{ ... }}` shows: plain values as they are, None as nothing, anything else refused."""
    if value.__class__ is str:  # most values: one check on the sender's hot path
        return value
    if value is None:
        return ""
    if isinstance(value, _SHOWN):
        return value
    raise _not_text(value)


# printf-style conversions: %[(name)][flags][width][.precision][length]type
_PERCENT_SPEC = re.compile(r"%(?:\(([^)]*)\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)


def _check_percent(fmt: str | bytes, args: Any) -> None:
    """`fmt % args` (and the format filter): widths and precisions add up to at most MAX_VALUE, each
    value is plain text."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    total = 0
    names = []
    for match in _PERCENT_SPEC.finditer(text):
        name, width, precision, _ = match.groups()
        if name is not None:
            names.append(name)
        for number in (width, precision):
            if number == "*":
                raise SecurityError("widths given by * are not allowed in text formatting")
            if number:
                total += int(number) if len(number) < 8 else MAX_VALUE + 1
        if total > MAX_VALUE:
            raise _too_long()
    if isinstance(args, Mapping) and names:
        require_text(*(args[n] for n in names if n in args))
    elif isinstance(args, tuple):
        require_text(*args)
    else:
        require_text(args)


_SPEC_NUMBER = re.compile(r"\d+")


class _LimitedFormatting:
    """str.format / format_map: no width or precision above MAX_VALUE, plain values only, and all fields
    together at most MAX_VALUE characters (`'{0}{0}{0}...'` repeats one value as often as it is written)."""

    produced = 0

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        require_text(value)
        return super().convert_field(value, conversion)  # type: ignore[misc]

    def format_field(self, value: Any, format_spec: str) -> Any:
        for number in _SPEC_NUMBER.findall(format_spec):
            if len(number) > 6 or int(number) > MAX_VALUE:
                raise _too_long()
        require_text(value)
        out = super().format_field(value, format_spec)  # type: ignore[misc]
        self.produced += len(out)
        if self.produced > MAX_VALUE:
            raise _too_long()
        return out


class _Formatter(_LimitedFormatting, SandboxedFormatter):
    pass


class _EscapeFormatter(_LimitedFormatting, SandboxedEscapeFormatter):
    pass


# ---------------------------------------------------------------- str, bytes and int methods
def _width_arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], name: str, default: Any) -> Any:
    return args[0] if args else kwargs.get(name, default)


def _check_method(owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a str/bytes method call whose result would exceed MAX_VALUE, before it runs; returns the
    arguments to call it with (join's iterable, once read)."""
    length = len(owner)
    limit = max(MAX_VALUE, length)
    if name in ("center", "ljust", "rjust", "zfill"):
        width = _width_arg(args, kwargs, "width", 0)
        if isinstance(width, int) and width > limit:
            raise _too_long()
    elif name == "expandtabs":
        tabsize = _width_arg(args, kwargs, "tabsize", 8)
        tab = "\t" if isinstance(owner, str) else b"\t"
        if isinstance(tabsize, int) and length + owner.count(tab) * tabsize > limit:
            raise _too_long()
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        if isinstance(old, str | bytes) and isinstance(new, str | bytes) and len(new) > len(old):
            found = length + 1 if not old else owner.count(old)
            if isinstance(count, int) and count >= 0:
                found = min(found, count)
            if length + found * (len(new) - len(old)) > limit:
                raise _too_long()
    elif name == "join" and args:
        items = list(args[0])
        charge(len(items) // _CHARS_PER_STEP)
        total = length * max(len(items) - 1, 0)
        for item in items:
            total += _size(item)
        if total > MAX_VALUE:
            raise _too_long()
        return (items, *args[1:])
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str | bytes)), default=1)
        if length * longest > limit:
            raise _too_long()
    return args


# ---------------------------------------------------------------- filters
# Each check sees the filter's value and arguments after Jinja's pass_* argument (`values`) and its keyword
# arguments; it raises before the filter runs, or rewrites what the filter gets.
Check = Callable[["MailSandbox", list[Any], dict[str, Any]], None]


def _arg(values: list[Any], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    return values[index] if len(values) > index else kwargs.get(name, default)


def _filter_center(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    width = _arg(values, kwargs, 1, "width", 80)
    if isinstance(width, int) and width > max(MAX_VALUE, len(str(values[0]))):
        raise _too_long()


def _filter_indent(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    text = str(values[0])
    width = _arg(values, kwargs, 1, "width", 4)
    step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    if len(text) + step * (text.count("\n") + 1) > max(MAX_VALUE, len(text)):
        raise _too_long()


def _filter_replace(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    if len(values) < 3:
        return
    text, old, new = str(values[0]), str(values[1]), str(values[2])
    count = _arg(values, kwargs, 3, "count")
    if len(new) > len(old):
        found = len(text) + 1 if not old else text.count(old)
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        if len(text) + found * (len(new) - len(old)) > max(MAX_VALUE, len(text)):
            raise _too_long()


def _filter_join(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    separator = values[1] if len(values) > 1 else kwargs.pop("d", "")
    attribute = values[2] if len(values) > 2 else kwargs.pop("attribute", None)
    items = list(values[0])
    charge(len(items) // _CHARS_PER_STEP)
    if attribute is not None:
        items = list(map(make_attrgetter(env, attribute), items))
    require_text(separator, *items)
    total = len(str(separator)) * max(len(items) - 1, 0)
    for item in items:
        total += len(item) if isinstance(item, str) else len(str(item))
        if total > MAX_VALUE:
            raise _too_long()
    values[:] = [items, separator]  # the attribute is applied already


def _filter_format(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    _check_percent(str(values[0]), kwargs or tuple(values[1:]))


def _filter_batch(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    count = _arg(values, kwargs, 1, "linecount", 0)  # the last batch is filled up to this many items
    if isinstance(count, int) and count > MAX_VALUE:
        raise _too_long()


def _filter_slice(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    count = _arg(values, kwargs, 1, "slices", 0)  # a loop in Python per slice, even for an empty list
    if isinstance(count, int) and count > MAX_VALUE:
        raise _too_long()


def _filter_sum(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    if not isinstance(_arg(values, kwargs, 2, "start", 0), int | float):  # sum(start=[]) copies quadratically
        raise SecurityError("sum can only add numbers")


def _filter_tojson(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    indent = _arg(values, kwargs, 1, "indent")
    if isinstance(indent, int) and indent > 8 or _size(indent) > 8 or _deep_size(values[0]) > MAX_VALUE:
        raise _too_long()


def _filter_compared(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    # sort, unique, min, max, dictsort and groupby compare items in C: copies of one big list cost their size
    if _deep_size(values[0]) > MAX_VALUE:
        raise _too_long()


def _filter_urlize(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    # target and rel are repeated in every link found
    if _size(_arg(values, kwargs, 3, "target")) + _size(_arg(values, kwargs, 4, "rel")) > 200:
        raise SecurityError("urlize: target and rel are limited to 200 characters")


def _filter_xmlattr(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    if isinstance(values[0], Mapping):
        require_text(*values[0].values())


def _filter_urlencode(env: MailSandbox, values: list[Any], kwargs: dict[str, Any]) -> None:
    value = values[0]
    if isinstance(value, Mapping):
        require_text(*value.keys(), *value.values())
    elif not isinstance(value, str) and isinstance(value, Iterable):
        pairs = list(value)
        for pair in pairs:
            require_text(*pair) if isinstance(pair, tuple | list) else require_text(pair)
        values[0] = pairs


def _wordwrap(func: Callable[..., str]) -> Callable[..., str]:
    """wordwrap repeats its wrapstring once per line: wrap with "\\n", count the lines, then put it in."""

    @functools.wraps(func)
    def wordwrap(environment: Any, s: Any, width: int = 79, break_long_words: bool = True,
                 wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
        if wrapstring is None or len(str(wrapstring)) <= 1:
            return func(environment, s, width, break_long_words, wrapstring, break_on_hyphens)
        out = func(environment, s, width, break_long_words, "\n", break_on_hyphens)
        if len(out) + out.count("\n") * (len(str(wrapstring)) - 1) > max(MAX_VALUE, len(str(s))):
            raise _too_long()
        return out.replace("\n", str(wrapstring))

    return wordwrap


# Filters that do constant work and return their value, a part of it or a number: nothing to count or check
# (`default` alone is called several times in most mails).
_CONSTANT_FILTERS = frozenset({"default", "d", "length", "count", "attr", "first", "int", "float", "abs", "round"})
# Filters that turn their value (and arguments) into text: each must be a plain value.
_TEXT_FILTERS = frozenset({
    "capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower", "pprint", "replace",
    "safe", "string", "striptags", "title", "trim", "truncate", "upper", "urlize", "wordcount", "wordwrap",
})
_FILTER_CHECKS: dict[str, Check] = {
    "center": _filter_center, "indent": _filter_indent, "replace": _filter_replace, "join": _filter_join,
    "format": _filter_format, "batch": _filter_batch, "slice": _filter_slice, "sum": _filter_sum,
    "tojson": _filter_tojson, "urlize": _filter_urlize, "xmlattr": _filter_xmlattr, "urlencode": _filter_urlencode,
    "sort": _filter_compared, "unique": _filter_compared, "min": _filter_compared, "max": _filter_compared,
    "dictsort": _filter_compared, "groupby": _filter_compared,
}


def _guard_filter(env: MailSandbox, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter with the sandbox's limits: charged by its input's size, text filters take plain values
    only, amplifying filters checked before they run, and no result above MAX_VALUE that is longer than
    the value it came from."""
    if name == "wordwrap":
        func = _wordwrap(func)
    offset = 0 if getattr(func, "jinja_pass_arg", None) is None else 1
    check = _FILTER_CHECKS.get(name)
    text = name in _TEXT_FILTERS
    lists = {"extra_schemes"} if name == "urlize" else set()

    @functools.wraps(func)  # keeps jinja_pass_arg: Jinja passes the same context, environment or eval context
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value = args[offset] if len(args) > offset else None
        charge(_OPERATOR_STEPS + _size(value) // _CHARS_PER_STEP)
        if text:
            require_text(*args[offset:], *(v for k, v in kwargs.items() if k not in lists))
        if check is not None:
            values = list(args[offset:])
            check(env, values, kwargs)
            args = (*args[:offset], *values)
        result = func(*args, **kwargs)
        size = _size(result)
        if size > MAX_VALUE and size > _size(value):
            raise _too_long()
        return result

    return guarded


# ---------------------------------------------------------------- the environment
class _CodeGenerator(CodeGenerator):
    """Jinja's code generator with `~` routed through the sandbox (size and plain-text checks), and no
    output expression folded at compile time (folding escapes a constant before finalize sees it, so
    `{{ 'x'.upper }}` would show "<built-in method upper of str object at 0x...>")."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        if not isinstance(node, nodes.TemplateData):
            raise nodes.Impossible()  # evaluated when rendering, through _finalize
        return super()._output_child_to_const(node, frame, finalize)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_text((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("), ")
        if frame.eval_ctx.volatile:  # the same choice as Jinja's markup_join / str_join
            self.write("context.eval_ctx.volatile")
        else:
            self.write("True" if frame.eval_ctx.autoescape else "False")
        self.write(")")


def _join_output(parts: Iterable[str]) -> str:
    """Environment.concat: joins the whole mail and every block buffer ({% set %}, macros, filter blocks),
    read in slices so that output in a loop is counted (and stopped at MAX_OUTPUT) as it is made."""
    iterator = iter(parts)
    chunks: list[str] = []
    size = 0
    while True:
        block = list(itertools.islice(iterator, 64))
        if not block:
            break
        added = sum(map(len, block))
        size += added
        if size > MAX_OUTPUT:
            raise SecurityError(f"the mail would be longer than {MAX_OUTPUT:,} characters")
        charge(1 + added // _CHARS_PER_STEP)
        chunks += block
    return "".join(chunks)


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    # lipsum(100000) takes ~20 s: placeholder text needs a few paragraphs
    if not (0 <= n <= 20 and 0 <= min <= max <= 200):
        raise SecurityError("lipsum() is limited to 20 paragraphs of at most 200 words")
    return str(generate_lorem_ipsum(n, html, min, max))


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE:,} numbers")
    charge(len(numbers) // _CHARS_PER_STEP)
    return numbers


_LOOP_FILTER = "_nurture_loop_items"


class MailSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus the limits above (the module docstring says which and why)."""

    intercepted_binops = frozenset({"+", "-", "*", "**", "%"})
    code_generator_class = _CodeGenerator
    context_class = _BudgetContext
    concat = staticmethod(_join_output)

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.globals["range"] = _range
        self.globals["lipsum"] = _lipsum
        self.filters = {name: f if name in _CONSTANT_FILTERS else _guard_filter(self, name, f)
                        for name, f in self.filters.items()}
        self.filters[_LOOP_FILTER] = self.loop_items

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, then route each `{% for %}`'s items through loop_items, which counts the rounds."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            # a filter node: called directly by the generated code, not through call() and its size limit
            counted = nodes.Filter(loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.lineno)
            counted.set_environment(self)
            loop.iter = counted
        return tree

    def loop_items(self, iterable: Any) -> Any:
        """The items of a `{% for %}`: a sized collection is charged at once, anything else per item."""
        try:
            count = len(iterable)
        except TypeError:
            return _counted(iterable)
        charge(1 + count)
        return iterable

    def join_text(self, parts: tuple[Any, ...], markup: bool) -> str:
        """`a ~ b`: plain values only, at most MAX_VALUE characters (generated code calls this)."""
        size = 0
        for part in parts:
            if isinstance(part, str):
                size += len(part)
            else:
                require_text(part)
        if size > MAX_VALUE:
            raise _too_long()
        charge(_OPERATOR_STEPS + size // _CHARS_PER_STEP)
        return markup_join(parts) if markup else str_join(parts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Arithmetic and text operators, refused before they run when the result would be too big."""
        charge(_OPERATOR_STEPS)
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise _too_big_number()
            else:
                for seq, times in ((left, right), (right, left)):
                    if isinstance(times, int) and times > 1 and isinstance(seq, str | bytes | list | tuple):
                        size = len(seq) if isinstance(seq, str | bytes) else _deep_size(seq)
                        if size * times > MAX_VALUE:
                            raise _too_long()
        elif operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
            if isinstance(left, int) and isinstance(right, int) and right > 0 and (
                    left.bit_length() * right > MAX_INT_BITS):  # refused before the C code starts
                raise _too_big_number()
        elif operator in ("+", "-"):
            if isinstance(left, int) and isinstance(right, int):
                if max(left.bit_length(), right.bit_length()) >= MAX_INT_BITS:
                    raise _too_big_number()
            elif operator == "+" and isinstance(left, str | bytes) and isinstance(right, str | bytes):
                if len(left) + len(right) > MAX_VALUE:
                    raise _too_long()
            elif operator == "+" and isinstance(left, list | tuple) and isinstance(right, list | tuple):
                if _deep_size(left) + _deep_size(right) > MAX_VALUE:
                    raise _too_long()
        elif operator == "%" and isinstance(left, str | bytes):
            _check_percent(left, right)
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, str | bytes):
            charge(len(result) // _CHARS_PER_STEP)
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Every call a template makes: counted, str/bytes methods that would build too much refused
        before they run, and no result above MAX_VALUE (macros and blocks: MAX_OUTPUT)."""
        charge(_CALL_STEPS)
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str | bytes) and isinstance(obj, types.BuiltinMethodType):
            args = _check_method(owner, obj.__name__, args, kwargs)
        elif isinstance(owner, int) and getattr(obj, "__name__", "") == "to_bytes":
            length = _width_arg(args, kwargs, "length", 1)
            if isinstance(length, int) and length > MAX_VALUE:
                raise _too_long()
        elif isinstance(obj, LoopContext) and args:  # a recursive loop's next level
            args = (self.loop_items(args[0]), *args[1:])
        result = super().call(context, obj, *args, **kwargs)
        size = _size(result)
        if size:
            rendered = isinstance(obj, Macro | BlockReference | LoopContext)  # text blocks: MAX_OUTPUT
            limit = MAX_OUTPUT if rendered else max(MAX_VALUE, _size(owner))
            if size > limit:
                raise _too_long()
            if isinstance(result, str | bytes):
                charge(size // _CHARS_PER_STEP)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`'...'.format(...)` and format_map with the formatting limits (Jinja's own, plus sizes)."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or value.__name__ not in (
                "format", "format_map"):
            return None
        template = value.__self__
        if not isinstance(template, str):
            return None
        str_type = type(template)
        is_format_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs, args = args[0], ()
            formatter: string.Formatter
            if isinstance(template, Markup):
                formatter = _EscapeFormatter(self, escape=template.escape)
            else:
                formatter = _Formatter(self)
            return str_type(formatter.vformat(template, args, kwargs))

        return functools.update_wrapper(wrapper, value)


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        charge(1)
        yield item


def make_environment(autoescape: bool) -> MailSandbox:
    """A mail sandbox (rendering builds one with autoescape for HTML and one without for text)."""
    # ChainableUndefined: a missing attribute renders empty (and `default()` works) instead of failing one
    # recipient's mail.
    return MailSandbox(autoescape=autoescape, undefined=ChainableUndefined, keep_trailing_newline=True,
                       auto_reload=False)
