"""What a template stored in the database may use, and what it is rendered with.

Stored templates are edited in the admin, so they are treated as untrusted: they render
from plain values (strings, numbers, dates, dicts of those), never model instances, so no
lookup can walk from the recipient to their password hash or API tokens. And they are
checked when they are saved, so a template that could not render, or that reaches for
something it cannot have, is refused with its line instead of failing every delivery.

* Tags: only the ones in :data:`ALLOWED_TAGS`. No ``{% include %}``, ``{% extends %}``,
  ``{% debug %}``, ``{% load %}`` (the ``i18n``, ``l10n`` and ``tz`` tags are built in),
  ``{% url %}`` or ``{% csrf_token %}``.
* Variables: the documented names (:data:`MESSAGE_VARIABLES`, :data:`DIGEST_VARIABLES`),
  the type's declared context variables, and names the template binds itself
  (``{% for x in … %}``, ``{% with x=… %}``, ``… as x``). For ``notification``,
  ``recipient``, ``type``, ``category`` and ``sender`` the attribute must be one of their
  documented keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.template import Engine, Template, TemplateSyntaxError, defaulttags
from django.template.base import FilterExpression, Node, TextNode, Variable, VariableNode
from django.templatetags import i18n, l10n, tz

from .types import notification_types

_DEFAULT_TAGS = (
    "AutoEscapeControlNode CommentNode CycleNode FilterNode FirstOfNode ForNode IfChangedNode "
    "IfNode LoremNode NowNode ResetCycleNode SpacelessNode TemplateTagNode VerbatimNode "
    "WidthRatioNode WithNode"
)
_I18N_TAGS = (
    "BlockTranslateNode GetAvailableLanguagesNode GetCurrentLanguageBidiNode "
    "GetCurrentLanguageNode GetLanguageInfoListNode GetLanguageInfoNode LanguageNode "
    "TranslateNode"
)
ForNode, IfNode = defaulttags.ForNode, defaulttags.IfNode
TranslateNode = i18n.TranslateNode

#: The node classes (tags) a stored template may use.
ALLOWED_TAGS: tuple[type[Node], ...] = (
    TextNode,
    VariableNode,
    *(getattr(defaulttags, name) for name in _DEFAULT_TAGS.split()),
    *(getattr(i18n, name) for name in _I18N_TAGS.split()),
    l10n.LocalizeNode,
    tz.GetCurrentTimezoneNode,
    tz.LocalTimeNode,
    tz.TimezoneNode,
)

#: The keys of the plain dicts stored templates see.
NOTIFICATION_KEYS = frozenset(
    {
        "id", "title", "description", "text", "url", "action_url", "action_required",
        "priority", "level", "type", "category", "scope", "created_at", "expires_at",
        "sender", "actor", "target",
    }
)  # fmt: skip
RECIPIENT_KEYS = frozenset({"name", "first_name", "last_name", "email"})
TYPE_KEYS = frozenset({"key", "label", "description"})
CATEGORY_KEYS = frozenset({"key", "label"})
SENDER_KEYS = frozenset({"name"})
#: Keys whose values are dates, whose own attributes (``.year``) a template may read.
_DATE_KEYS = frozenset({"created_at", "expires_at"})
#: Names whose attribute is checked against the keys above.
SHAPES: Mapping[str, frozenset[str]] = {
    "notification": NOTIFICATION_KEYS,
    "recipient": RECIPIENT_KEYS,
    "type": TYPE_KEYS,
    "category": CATEGORY_KEYS,
    "sender": SENDER_KEYS,
}
#: The variables of a single notification's message.
MESSAGE_VARIABLES = frozenset(
    {
        "notification", "recipient", "sender", "sender_name", "title", "body", "text", "url",
        "action_url",
        "unsubscribe_url", "site_url", "priority", "level", "type", "category", "actor",
        "target", "context",
    }
)  # fmt: skip
#: The variables of a digest.
DIGEST_VARIABLES = frozenset({"notifications", "count", "recipient", "unsubscribe_url", "site_url"})
#: Always bound while rendering (a for loop's counter, the current language after
#: ``{% get_current_language %}`` is bound by its ``as`` name).
_BUILTIN_NAMES = frozenset({"forloop", "True", "False", "None"})
#: Attributes of a node that name a variable the tag binds.
_BINDING_ATTRS = ("asvar", "variable", "var_name", "countervar")


def check_template(template: Template, *, name: str, variables: Iterable[str]) -> None:
    """Refuse a compiled stored template that uses a tag outside :data:`ALLOWED_TAGS` or
    a variable outside ``variables``; the message names the part and the line."""
    known = set(variables) | _BUILTIN_NAMES | _bound_anywhere(template.nodelist)
    for node, bound in _walk(template.nodelist, frozenset()):
        problem = _tag_problem(node) or _variable_problem(node, known | bound, bound)
        if problem:
            line = _line(node)
            where = f"line {line}: " if line else ""
            raise ValidationError(f"In {name}, {where}{problem}", code="template_forbidden")


def _line(node: Node) -> int | None:
    token = getattr(node, "token", None)
    return getattr(token, "lineno", None)


def _tag_problem(node: Node) -> str | None:
    if isinstance(node, ALLOWED_TAGS):
        return None
    token = getattr(node, "token", None)
    tag = token.contents.split()[0] if token is not None and token.contents else type(node).__name__
    if tag == "load":
        return (
            "{% load %} is not allowed in stored templates; the i18n, l10n and tz tags "
            "are available without it."
        )
    return f"the {{% {tag} %}} tag is not allowed in stored templates."


def _walk(nodes: Iterable[Node], bound: frozenset[str]) -> Iterator[tuple[Node, frozenset]]:
    for node in nodes:
        yield node, bound
        inner = bound | _binds(node)
        for attr in getattr(node, "child_nodelists", ()):
            children = getattr(node, attr, None)
            if children:
                yield from _walk(children, inner)
        if isinstance(node, IfNode):
            for _condition, children in node.conditions_nodelists:
                yield from _walk(children, inner)


def _binds(node: Node) -> frozenset[str]:
    """Names a block tag binds for its body: loop variables, ``with`` names."""
    names: set[str] = set()
    if isinstance(node, ForNode):
        names.update(node.loopvars)
    extra = getattr(node, "extra_context", None)
    if isinstance(extra, dict) and not isinstance(node, TranslateNode):
        names.update(extra)
    return frozenset(names)


def _bound_anywhere(nodes: Iterable[Node]) -> set[str]:
    """Names bound by ``… as name`` tags (``{% get_current_language as lang %}``): they
    stay bound after the tag, so they count everywhere (a use before the tag renders
    empty, which is harmless)."""
    names: set[str] = set()
    for node, _bound in _walk(nodes, frozenset()):
        for attr in _BINDING_ATTRS:
            value = getattr(node, attr, None)
            if isinstance(value, str) and value:
                names.add(value)
    return names


def _variable_problem(node: Node, known: set[str], bound: frozenset[str]) -> str | None:
    for variable in _variables(node):
        if variable.lookups is None:  # a literal
            continue
        root, *path = variable.lookups
        if root not in known:
            return f"{{{{ {variable.var} }}}}: {root!r} is not a variable stored templates can use."
        shape = SHAPES.get(root)
        if shape is None or root in bound or not path:
            continue
        if path[0] not in shape:
            keys = ", ".join(sorted(shape))
            return f"{{{{ {variable.var} }}}}: {root} has no {path[0]!r} (it has: {keys})."
        if len(path) > 1 and path[0] not in _DATE_KEYS:
            return f"{{{{ {variable.var} }}}}: {root}.{path[0]} is a plain value."
    return None


def _variables(obj: Any, depth: int = 0) -> Iterator[Variable]:
    """Every ``Variable`` a node reads: in its filter expressions, its filters'
    arguments and its conditions (``{% if %}`` operands), however the tag stores them."""
    if depth > 6 or obj is None:
        return
    if isinstance(obj, Variable):
        yield obj
    elif isinstance(obj, FilterExpression):
        yield from _variables(obj.var, depth + 1)
        for _func, args in obj.filters:
            for _lookup, arg in args:
                yield from _variables(arg, depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        for item in obj:
            yield from _variables(item, depth + 1)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _variables(item, depth + 1)
    elif isinstance(obj, Node) and depth > 0:
        return  # child nodes are walked on their own, with their scope
    elif type(obj).__module__.startswith(("django.template", "django.templatetags")):
        for key, value in vars(obj).items():
            if key in ("token", "origin") or key.startswith("nodelist"):
                continue
            if key == "conditions_nodelists":
                for condition, _children in value:
                    yield from _variables(condition, depth + 1)
                continue
            yield from _variables(value, depth + 1)


# --- the plain context ----------------------------------------------------------------------


def display_name(user: Any) -> str:
    """A user's full name, else their username."""
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or (user.get_username() if hasattr(user, "get_username") else str(user))


def person(user: Any) -> dict[str, str]:
    """A user as stored templates see them: names and email, nothing else."""
    if user is None:
        return {"name": "", "first_name": "", "last_name": "", "email": ""}
    return {
        "name": display_name(user),
        "first_name": getattr(user, "first_name", "") or "",
        "last_name": getattr(user, "last_name", "") or "",
        "email": getattr(user, "email", "") or "",
    }


def _text(obj: Any) -> str:
    return "" if obj is None else str(obj)


def notification_values(notification: Any, *, url: str = "", action_url: str = "") -> dict:
    sender = notification.sender if getattr(notification, "sender_id", None) else None
    return {
        "id": notification.pk,
        "title": notification.title,
        "description": notification.description,
        "text": notification.description_text,
        "url": url,
        "action_url": action_url,
        "action_required": notification.action_required,
        "priority": notification.get_priority_display(),
        "level": notification.get_level_display(),
        "type": notification.notification_type or "",
        "category": "",
        "scope": notification.scope,
        "created_at": notification.created_at,
        "expires_at": notification.expires_at,
        "sender": person(sender)["name"] if sender is not None else "",
        "actor": _text(notification.actor) if notification.actor_content_type_id else "",
        "target": _text(notification.target) if notification.target_content_type_id else "",
    }


def type_values(ntype: Any) -> dict[str, str] | None:
    if ntype is None:
        return None
    return {
        "key": ntype.key,
        "label": str(ntype.get_label()),
        "description": str(getattr(ntype, "description", "") or ""),
    }


def category_values(category: Any) -> dict[str, str] | None:
    if category is None:
        return None
    return {"key": category.key, "label": str(category.name)}


def _plain(value: Any, depth: int = 0) -> Any:
    """A value as stored templates may see it: JSON-like data, dates and safe strings as
    they are; anything else (a model instance) as its text."""
    if value is None or isinstance(value, str | int | float | bool | date | datetime | time):
        return value
    if depth < 8 and isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if depth < 8 and isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    return str(value)


def plain_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context a stored template renders with, made from the full one the template
    files get (see ``notification_context`` / ``digest_context``)."""
    plain: dict[str, Any] = {}
    for key, value in context.items():
        if key == "notification" and value is not None:
            values = notification_values(
                value, url=context.get("url", ""), action_url=context.get("action_url", "")
            )
            category = context.get("category")
            values["category"] = category.key if category is not None else ""
            plain[key] = values
        elif key in ("recipient", "sender"):
            plain[key] = person(value) if value is not None else None
        elif key == "type":
            plain[key] = type_values(value)
        elif key == "category":
            plain[key] = category_values(value)
        elif key == "notifications":
            plain[key] = [_digest_item(item) for item in value]
        else:
            plain[key] = _plain(value)
    return plain


def _digest_item(item: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: _plain(v) for k, v in item.items() if k != "notification"}
    if item.get("notification") is not None:
        out["notification"] = notification_values(item["notification"], url=item.get("url", ""))
    return out


# --- compiling a stored template --------------------------------------------------------

#: The type key digest templates are stored under.
DIGEST_KEY = "digest"

#: Tag libraries built into database templates (so they need no ``{% load %}``, which the
#: sandbox refuses). Registered as libraries too, so that a ``{% load i18n %}`` compiles and
#: is then refused with a message saying why, rather than as an unknown library.
_LIBRARIES = {
    "i18n": "django.templatetags.i18n",
    "l10n": "django.templatetags.l10n",
    "tz": "django.templatetags.tz",
}


def _engine(autoescape: bool) -> Engine:
    # debug=True keeps the line number of a syntax error for the admin's message.
    return Engine(
        autoescape=autoescape,
        debug=True,
        libraries=_LIBRARIES,
        builtins=list(_LIBRARIES.values()),
        loaders=[],
    )


_SANDBOX = {True: _engine(True), False: _engine(False)}


def compile_template(
    source: str,
    *,
    name: str = "body",
    autoescape: bool | None = None,
    variables: Iterable[str] | None = None,
):
    """Compile database template source; ``ValidationError`` naming the line if it does
    not compile or, given the ``variables`` it may use, if the sandbox refuses it."""
    if autoescape is None:
        autoescape = name == "html_body"
    try:
        template = _SANDBOX[autoescape].from_string(source or "")
    except TemplateSyntaxError as exc:
        line = getattr(exc, "template_debug", {}).get("line")
        where = f"line {line}: " if line else ""
        raise ValidationError(
            f"Template syntax error in {name}, {where}{exc}", code="template_syntax"
        ) from None
    if variables is not None:
        check_template(template, name=name, variables=variables)
    return template


def stored_template_variables(type_key: str) -> frozenset[str]:
    """The variables a database template for ``type_key`` may use: the documented ones
    and the type's declared context variables."""
    if type_key == DIGEST_KEY:
        return DIGEST_VARIABLES
    if type_key not in notification_types:
        return MESSAGE_VARIABLES
    ntype = notification_types.get(type_key)
    return MESSAGE_VARIABLES | set(ntype.context) | set(ntype.optional_context)
