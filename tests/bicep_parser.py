"""A small Bicep reader for the infrastructure tests: a tokenizer and a parser of the subset our templates use.

The Bicep CLI cannot be downloaded here, so the tests check what can be checked without it. The tokenizer
knows Bicep's comments, single-line strings with `\\'` escapes and `${...}` interpolation (nested strings
included), multi-line `'''` strings, numbers, identifiers and operators, and fails on an unterminated string or
comment and on unbalanced or mismatched (), [] and {}. The parser reads the top-level declarations (`param`,
`var`, `resource`, `module`, `output`, `targetScope`, `using`) with their decorators, and turns object and array
literals into dicts and lists, so a test can ask for `resource.body["properties"]["minimumTlsVersion"]`. Any
other expression is kept as its source text (`Expr`), which is enough to check references such as `scope: storage`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TWO_CHAR_OPS = ("==", "!=", ">=", "<=", "&&", "||", "??", "=~", "!~", "=>", "::")
_ONE_CHAR_OPS = set(":,.?!=<>+-*/%@|&")
_OPEN_TO_CLOSE = {"(": ")", "[": "]", "{": "}"}
_KEYWORD_LITERALS = {"true": True, "false": False, "null": None}


class BicepSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str   # string | mstring | number | ident | punct | newline
    value: str
    line: int


@dataclass(frozen=True)
class Expr:
    """An expression other than a literal, kept as its source text (tokens joined by spaces)."""
    text: str

    def refs(self, name: str) -> bool:
        """Whether the identifier `name` occurs in the expression (the text is its tokens joined by spaces)."""
        return name in self.text.split()


@dataclass
class Decl:
    keyword: str                 # param | var | resource | module | output | targetScope | using
    name: str
    type: str = ""               # param/output type; resource 'Type@version'; module path
    value: Any = None            # default / value / body
    decorators: dict[str, list] = field(default_factory=dict)
    existing: bool = False       # resource ... existing
    condition: str = ""          # resource/module ... = if (condition) {...}
    line: int = 0

    @property
    def body(self) -> dict:
        return self.value if isinstance(self.value, dict) else {}


def _string_end(text: str, start: int, line: int) -> int:
    """Index just past the closing quote of the single-line string that opens at `start`."""
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
        elif ch == "'":
            return i + 1
        elif ch == "\n":
            break
        elif text.startswith("${", i):
            i = _interpolation_end(text, i + 2, line)
        else:
            i += 1
    raise BicepSyntaxError(f"line {line}: unterminated string")


def _interpolation_end(text: str, i: int, line: int) -> int:
    """Index just past the `}` that closes the interpolation whose expression starts at `i`."""
    start, depth = i, 1
    while i < len(text):
        ch = text[i]
        if ch == "'":
            i = _string_end(text, i, line)
            continue
        if ch == "\n":
            break
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                try:
                    tokenize(text[start:i])  # the expression inside must balance on its own
                except BicepSyntaxError as exc:
                    raise BicepSyntaxError(f"line {line}: in ${{...}}: {exc}") from None
                return i + 1
        i += 1
    raise BicepSyntaxError(f"line {line}: unterminated ${{...}} interpolation")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    stack: list[tuple[str, int]] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            tokens.append(Token("newline", "\n", line))
            line += 1
            i += 1
        elif ch in " \t\r":
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise BicepSyntaxError(f"line {line}: unterminated /* comment")
            line += text.count("\n", i, end)
            i = end + 2
        elif text.startswith("'''", i):
            end = text.find("'''", i + 3)
            if end < 0:
                raise BicepSyntaxError(f"line {line}: unterminated ''' string")
            tokens.append(Token("mstring", text[i + 3:end], line))
            line += text.count("\n", i, end)
            i = end + 3
        elif ch == "'":
            end = _string_end(text, i, line)
            tokens.append(Token("string", text[i + 1:end - 1].replace("\\'", "'"), line))
            i = end
        elif ch.isdigit():
            j = i
            while j < n and text[j].isdigit():
                j += 1
            tokens.append(Token("number", text[i:j], line))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tokens.append(Token("ident", text[i:j], line))
            i = j
        elif ch in _OPEN_TO_CLOSE:
            stack.append((ch, line))
            tokens.append(Token("punct", ch, line))
            i += 1
        elif ch in _OPEN_TO_CLOSE.values():
            if not stack or _OPEN_TO_CLOSE[stack[-1][0]] != ch:
                opened = f"'{stack[-1][0]}' from line {stack[-1][1]}" if stack else "nothing"
                raise BicepSyntaxError(f"line {line}: '{ch}' closes {opened}")
            stack.pop()
            tokens.append(Token("punct", ch, line))
            i += 1
        elif text[i:i + 2] in _TWO_CHAR_OPS:
            tokens.append(Token("punct", text[i:i + 2], line))
            i += 2
        elif ch in _ONE_CHAR_OPS:
            tokens.append(Token("punct", ch, line))
            i += 1
        else:
            raise BicepSyntaxError(f"line {line}: unexpected character {ch!r}")
    if stack:
        raise BicepSyntaxError(f"'{stack[-1][0]}' opened on line {stack[-1][1]} is never closed")
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.toks = tokens
        self.i = 0

    # --- token helpers ---------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise BicepSyntaxError("unexpected end of file")
        self.i += 1
        return tok

    def expect(self, value: str) -> Token:
        tok = self.next()
        if tok.value != value or tok.kind not in ("punct", "ident"):
            raise BicepSyntaxError(f"line {tok.line}: expected {value!r}, found {tok.value!r}")
        return tok

    def skip(self, *values: str) -> None:
        while (tok := self.peek()) is not None and tok.kind in ("newline", "punct") and tok.value in values:
            self.i += 1

    def is_punct(self, value: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind == "punct" and tok.value == value

    # --- values ----------------------------------------------------------------------------------
    def value(self) -> Any:
        start = self.i
        if self.is_punct("{") or (self.is_punct("[") and not (self.peek(1) and self.peek(1).value == "for")):
            literal = self.obj() if self.is_punct("{") else self.arr()
            if self._at_value_end():
                return literal
            self.i = start  # `{...}.x`, `[...][0]`, `cond ? {...} : {...}`: read the whole expression as text
        return self.expression()

    def _at_value_end(self) -> bool:
        tok = self.peek()
        return tok is None or tok.kind == "newline" or (tok.kind == "punct" and tok.value in (",", ")", "]", "}"))

    def expression(self) -> Any:
        start = self.i
        depth = 0
        while (tok := self.peek()) is not None:
            if tok.kind == "punct" and tok.value in _OPEN_TO_CLOSE:
                depth += 1
            elif tok.kind == "punct" and tok.value in _OPEN_TO_CLOSE.values():
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and (tok.kind == "newline" or (tok.kind == "punct" and tok.value == ",")):
                break
            self.i += 1
        part = self.toks[start:self.i]
        if not part:
            tok = self.peek()
            raise BicepSyntaxError(f"line {tok.line if tok else '?'}: expected a value")
        if len(part) == 1:
            tok = part[0]
            if tok.kind in ("string", "mstring"):
                return tok.value
            if tok.kind == "number":
                return int(tok.value)
            if tok.kind == "ident" and tok.value in _KEYWORD_LITERALS:
                return _KEYWORD_LITERALS[tok.value]
        if len(part) == 2 and part[0].value == "-" and part[1].kind == "number":
            return -int(part[1].value)
        return Expr(" ".join(t.value if t.kind != "string" else f"'{t.value}'" for t in part))

    def obj(self) -> dict:
        open_tok = self.expect("{")
        out: dict[str, Any] = {}
        while True:
            self.skip("\n", ",")
            if self.is_punct("}"):
                self.next()
                return out
            key_tok = self.next()
            if key_tok.kind not in ("ident", "string"):
                raise BicepSyntaxError(f"line {key_tok.line}: expected a property name, found {key_tok.value!r}")
            self.expect(":")
            if key_tok.value in out:
                raise BicepSyntaxError(f"line {key_tok.line}: property {key_tok.value!r} appears twice "
                                       f"in the object from line {open_tok.line}")
            out[key_tok.value] = self.value()

    def arr(self) -> list:
        self.expect("[")
        out = []
        while True:
            self.skip("\n", ",")
            if self.is_punct("]"):
                self.next()
                return out
            out.append(self.value())

    def balanced(self) -> str:
        """Consume one bracketed group ( ... ) and return its inner text."""
        open_tok = self.next()
        close = _OPEN_TO_CLOSE[open_tok.value]
        depth, parts = 1, []
        while True:
            tok = self.next()
            if tok.kind == "punct" and tok.value == open_tok.value:
                depth += 1
            elif tok.kind == "punct" and tok.value == close:
                depth -= 1
                if depth == 0:
                    return " ".join(parts)
            parts.append(tok.value if tok.kind != "string" else f"'{tok.value}'")

    # --- declarations ----------------------------------------------------------------------------
    def decorators(self) -> dict[str, list]:
        found: dict[str, list] = {}
        while self.is_punct("@"):
            self.next()
            name = self.next().value
            self.expect("(")
            args = []
            while True:
                self.skip("\n", ",")
                if self.is_punct(")"):
                    self.next()
                    break
                args.append(self.value())
            found[name] = args
            self.skip("\n")
        return found

    def resource_body(self, decl: Decl) -> None:
        if self.peek() and self.peek().value == "if":
            self.next()
            decl.condition = self.balanced()
        if self.is_punct("[") and self.peek(1) and self.peek(1).value == "for":
            self.next()
            depth = 0
            while not (self.is_punct(":") and depth == 0):
                tok = self.next()
                depth += tok.value in _OPEN_TO_CLOSE
                depth -= tok.value in _OPEN_TO_CLOSE.values()
            self.next()
            decl.condition = decl.condition or "for"
            decl.value = self.obj()
            self.skip("\n")
            self.expect("]")
            return
        decl.value = self.obj()

    def declaration(self) -> Decl:
        decorators = self.decorators()
        tok = self.next()
        if tok.kind != "ident":
            raise BicepSyntaxError(f"line {tok.line}: expected a declaration, found {tok.value!r}")
        kw = tok.value
        decl = Decl(kw, "", decorators=decorators, line=tok.line)
        if kw == "targetScope":
            self.expect("=")
            decl.name, decl.value = kw, self.value()
        elif kw == "using":
            decl.name = self.next().value
        elif kw in ("param", "var", "output"):
            decl.name = self.next().value
            if not self.is_punct("="):
                decl.type = self.next().value
                if self.is_punct("?"):
                    self.next()
                    decl.type += "?"
            if self.is_punct("="):
                self.next()
                decl.value = self.value()
            elif kw != "param":
                raise BicepSyntaxError(f"line {tok.line}: {kw} {decl.name} has no value")
        elif kw in ("resource", "module"):
            decl.name = self.next().value
            type_tok = self.next()
            if type_tok.kind != "string":
                raise BicepSyntaxError(f"line {type_tok.line}: {kw} {decl.name} needs a quoted type or path")
            decl.type = type_tok.value
            if self.peek() and self.peek().value == "existing":
                self.next()
                decl.existing = True
            self.expect("=")
            self.resource_body(decl)
        else:
            raise BicepSyntaxError(f"line {tok.line}: unknown declaration {kw!r}")
        end = self.peek()
        if end is not None and end.kind != "newline":
            raise BicepSyntaxError(f"line {end.line}: unexpected {end.value!r} after {kw} {decl.name}")
        return decl

    def file(self) -> list[Decl]:
        decls = []
        while True:
            self.skip("\n")
            if self.peek() is None:
                return decls
            decls.append(self.declaration())


def parse(text: str) -> list[Decl]:
    return _Parser(tokenize(text)).file()


def parse_file(path: Path) -> list[Decl]:
    try:
        return parse(Path(path).read_text(encoding="utf-8"))
    except BicepSyntaxError as exc:
        raise BicepSyntaxError(f"{path}: {exc}") from None


def of_kind(decls: list[Decl], keyword: str) -> dict[str, Decl]:
    return {d.name: d for d in decls if d.keyword == keyword}
