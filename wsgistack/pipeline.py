"""Declarative composition of middleware: :class:`Layer`, :class:`Pipeline` and the name registry.

Layers are listed **outermost first**: the first layer sees the request first and the response last,
as in Django's ``MIDDLEWARE``, Starlette and PasteDeploy's ``pipeline =``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec

from .core import WSGIApplication

if TYPE_CHECKING:
    import inspect

__all__ = ["REGISTRY", "Layer", "LayerError", "Pipeline", "Registration"]

P = ParamSpec("P")
Factory = Callable[..., WSGIApplication]


class LayerError(TypeError):
    """A layer's options do not fit its factory; the message names the layer and the accepted options."""


class Registration:
    """A middleware known by name to pipelines, configuration files and the contract test matrix.

    ``target`` is the factory or its ``"module:attribute"`` path, imported on first use so that
    registering every built-in middleware costs no imports. ``handles_errors`` marks a layer that
    turns exceptions into responses (the contract expects a 5xx instead of the exception while nothing
    has been sent).
    """

    __slots__ = ("_factory", "handles_errors", "name", "target")

    def __init__(self, name: str, target: Factory | str, *, handles_errors: bool = False) -> None:
        self.name, self.handles_errors = name, handles_errors
        self.target = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"
        self._factory: Factory | None = None if isinstance(target, str) else target

    @property
    def factory(self) -> Factory:
        if self._factory is None:
            module, _, attribute = self.target.partition(":")
            self._factory = getattr(importlib.import_module(module), attribute)
        return self._factory

    def __repr__(self) -> str:
        errors = ", handles_errors=True" if self.handles_errors else ""
        return f"Registration({self.name!r}, {self.target!r}{errors})"


def _registrations(*entries: Registration) -> Mapping[str, Registration]:
    return MappingProxyType({entry.name: entry for entry in entries})


#: The built-in middlewares by registry/INI name (``egg:wsgistack#<name>``).
REGISTRY: Mapping[str, Registration] = _registrations(
    Registration("static", "wsgistack.static:StaticFiles"),
    Registration("compress", "wsgistack.compress:Compress"),
    Registration("body_limit", "wsgistack.body_limit:BodyLimit"),
    Registration("errors", "wsgistack.errors:CatchErrors", handles_errors=True),
    Registration("access_log", "wsgistack.access_log:AccessLog"),
    Registration("request_id", "wsgistack.request_id:RequestID"),
)


def _describe_factory(factory: Factory) -> str:
    path = f"{getattr(factory, '__module__', '')}:{getattr(factory, '__qualname__', '')}"
    for registration in REGISTRY.values():
        if registration.target == path:
            return registration.name
    return getattr(factory, "__qualname__", repr(factory))


class Layer(Generic[P]):
    """One middleware and its options, checked against the factory's signature when the layer is made.

    ``factory(app, *args, **options)`` builds the middleware; mypy checks the options through the
    ``ParamSpec``, and at run time a misspelt or missing option raises :class:`LayerError` naming the
    layer, the option and the accepted ones, instead of failing when the first request arrives.
    """

    __slots__ = ("args", "factory", "name", "options")

    def __init__(
        self,
        factory: Callable[Concatenate[WSGIApplication, P], WSGIApplication],
        /,
        *args: P.args,
        **options: P.kwargs,
    ) -> None:
        self.factory: Factory = factory
        self.args: tuple[Any, ...] = args
        self.options: dict[str, Any] = dict(options)
        self.name = _describe_factory(factory)
        _bind(self.name, factory, args, self.options)

    @classmethod
    def named(cls, name: str, /, *args: Any, **options: Any) -> Layer[...]:
        """The registered middleware called ``name`` (see :data:`REGISTRY`) with these options."""
        try:
            registration = REGISTRY[name]
        except KeyError:
            raise LayerError(
                f"unknown layer {name!r}; registered layers: {', '.join(sorted(REGISTRY)) or '(none)'}"
            ) from None
        return Layer(registration.factory, *args, **options)

    def build(self, app: WSGIApplication) -> WSGIApplication:
        return self.factory(app, *self.args, **self.options)

    def __repr__(self) -> str:
        parts = [*map(repr, self.args), *(f"{key}={value!r}" for key, value in self.options.items())]
        return f"{self.name}({', '.join(parts)})"


def _bind(name: str, factory: Factory, args: tuple[Any, ...], options: dict[str, Any]) -> None:
    import inspect  # only when a layer is built: it costs more to import than the rest of the package

    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check against
        return
    accepted = list(signature.parameters)[1:]  # the first parameter is the wrapped app
    try:
        signature.bind(None, *args, **options)
    except TypeError as exc:
        unknown = [key for key in options if key not in signature.parameters]
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        if unknown and not takes_any:
            import difflib

            hint = difflib.get_close_matches(unknown[0], accepted, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise LayerError(
                f"layer {name}: unknown option {unknown[0]!r}{suggestion}; "
                f"accepted options: {', '.join(accepted) or '(none)'}"
            ) from None
        raise LayerError(f"layer {name}: {exc}; expected {name}{_signature_tail(signature)}") from None


def _signature_tail(signature: inspect.Signature) -> str:
    import inspect

    params = [
        param.replace(annotation=_Annotation(param.annotation))
        if isinstance(param.annotation, str)
        else param
        for param in list(signature.parameters.values())[1:]
    ]
    return str(signature.replace(parameters=params, return_annotation=inspect.Signature.empty))


class _Annotation(str):
    """A string annotation (``from __future__ import annotations``) shown without quotes."""

    def __repr__(self) -> str:
        return str(self)


class Pipeline:
    """An ordered stack of layers, outermost first, that wraps any WSGI app.

    >>> Pipeline(Layer(first), Layer(second)).wrap(app)   # same as first(second(app))  # doctest: +SKIP
    """

    __slots__ = ("layers",)

    def __init__(self, *layers: Layer[Any]) -> None:
        for position, layer in enumerate(layers, 1):
            if not isinstance(layer, Layer):
                raise TypeError(f"Pipeline item {position} is {layer!r}, not a Layer")
        self.layers: tuple[Layer[Any], ...] = layers

    def wrap(self, app: WSGIApplication) -> WSGIApplication:
        """Build every layer around ``app``, innermost first; the result is the outermost middleware."""
        for layer in reversed(self.layers):
            app = layer.build(app)
        return app

    def describe(self, app: object = "app") -> str:
        """The nesting as an indented diagram, outermost layer first, ending in ``app``."""
        lines = []
        for depth, item in enumerate((*self.layers, app)):
            label = repr(item) if isinstance(item, Layer) else _app_label(item)
            lines.append(f"{'    ' * (depth - 1)}└── {label}" if depth else label)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Pipeline({', '.join(map(repr, self.layers))})"


def _app_label(app: object) -> str:
    if isinstance(app, str):
        return app
    module, name = getattr(app, "__module__", None), getattr(app, "__qualname__", None)
    return f"{module}:{name}" if module and name else repr(app)
