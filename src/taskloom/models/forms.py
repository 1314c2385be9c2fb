"""Answers that keep the JSON form they were validated from, so the server sends it as it is.

The hot reads (task_get, and a successful task_claim) build their answer as plain JSON-ready
dicts and validate it once into its model (`services.common.detail_form`). The server then needs
the JSON form again, and dumping the model rebuilds, member by member, the very dicts it was
validated from. So a `Formed` model keeps that form in a slot of its own: it goes wherever the
model goes and nowhere else (no table beside the models, no state shared between apps or
threads), and is dropped with it.

The form is the dump only while the model cannot change, so a formed model and every model in
it is frozen, with tuples for its lists (tests/services/test_task_forms.py walks the types), and
a copy keeps no form. The form is handed over once (`take_form`), so no two answers share one
dict. Whoever builds the form promises JSON types exactly as the dump gives them
(every field, in field order, 1.0 not 1 for a float); tests/services/test_task_forms.py holds
form and dump equal, as JSON text, on both backends.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class Part(BaseModel):
    """A model nothing changes once built: a member of a formed answer."""

    model_config = ConfigDict(frozen=True)


class Formed(Part):
    """A frozen answer that keeps the JSON form it was validated from, until the server takes it."""

    # A slot, not a pydantic PrivateAttr: pydantic would run a Python hook on every validation
    # to set the private default (~10k instructions a model, twice for a claim), compare it in
    # ==, and copy it with the model. A slot is none of these: a copy starts without a form.
    __slots__ = ("_form",)

    @classmethod
    def of_form(cls, form: dict[str, Any]) -> Self:
        """`cls.model_validate(form)`, keeping `form` (which the caller gives up) as its JSON form."""
        made = cls.model_validate(form)
        object.__setattr__(made, "_form", form)
        return made

    def take_form(self) -> dict[str, Any] | None:
        """The JSON form this model was validated from, once; None if it has none (any more)."""
        try:
            form = self._form
        except AttributeError:  # built otherwise (a claim that found nothing), or taken
            return None
        object.__delattr__(self, "_form")
        return form
