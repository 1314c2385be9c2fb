"""Answers that keep the JSON form they were validated from, so the server sends it as it is.

The hot reads (task_get, and a successful task_claim) build their answer as plain JSON-ready
dicts and validate it once into its model (`services.common.detail_form`). The server then needs
the JSON form again, and dumping the model rebuilds, member by member, the very dicts it was
validated from. So a `Formed` model keeps that form, in a private attribute of its own: it goes
wherever the model goes and nowhere else (no table beside the models, no state shared between
apps or threads), and is dropped with it.

The form is the dump only while the model cannot change, so a formed model and every model in
it is frozen, with tuples for its lists (tests/services/test_task_forms.py walks the types), and
a copy keeps no form. The form is handed over once (`take_form`), so no two answers
share one dict. Whoever builds the form promises JSON types exactly as the dump gives them
(every field, in field order, 1.0 not 1 for a float); tests/services/test_task_forms.py holds
form and dump equal, as JSON text, on both backends.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, PrivateAttr


class Part(BaseModel):
    """A model nothing changes once built: a member of a formed answer."""

    model_config = ConfigDict(frozen=True)


class Formed(Part):
    """A frozen answer that keeps the JSON form it was validated from, until the server takes it."""

    _form: dict[str, Any] | None = PrivateAttr(None)

    @classmethod
    def of_form(cls, form: dict[str, Any]) -> Self:
        """`cls.model_validate(form)`, keeping `form` (which the caller gives up) as its JSON form."""
        made = cls.model_validate(form)
        made.__pydantic_private__["_form"] = form
        return made

    def take_form(self) -> dict[str, Any] | None:
        """The JSON form this model was validated from, once; None if it has none (any more)."""
        private = self.__pydantic_private__
        form = private["_form"]
        private["_form"] = None
        return form

    # model_copy goes through these two, and may change fields after: a copy keeps no form.
    def __copy__(self) -> Self:
        return _formless(super().__copy__())

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        return _formless(super().__deepcopy__(memo))


def _formless(made: Formed) -> Any:
    made.__pydantic_private__["_form"] = None  # the copy's own dict (pydantic copies it)
    return made
