"""The languages an assignment may be written in, with what the editor and the assignment form need, and whether
some running worker grades each now (a language no worker serves waits, queued)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CurrentUser, RedisDep
from api.schemas import SIGNED_IN, errors
from gradeflow import languages
from gradeflow.worker_languages import languages_served

router = APIRouter(prefix="/languages", tags=["languages"], responses=errors(*SIGNED_IN))


class LanguageOut(BaseModel):
    name: str = Field(description="The assignment's `language`")
    title: str
    editor_mode: str = Field(description="The Ace editor mode that highlights it")
    time_factor: float = Field(description="Its allowance on an assignment's time limits")
    compiled: bool = Field(
        description="Graded after a compile step (a compile error costs no attempt)"
    )
    starter: str = Field(description="A program that reads two integers and prints their sum")
    source_name: str = Field(description="The student's file as the compiler names it in messages")
    served: bool | None = Field(
        description="Whether a running worker grades it now (null: Redis cannot say)"
    )
    toolchain: str = Field("", description="The toolchain of a worker that grades it")


@router.get("", response_model=list[LanguageOut])
async def list_languages(_: CurrentUser, redis: RedisDep):
    """Every language GradeFlow grades, in the order the assignment form offers them."""
    served = await languages_served(redis)
    out = []
    for name in languages.NAMES:
        language = languages.get(name)
        out.append(
            LanguageOut(
                name=name,
                title=language.title,
                editor_mode=language.ace_mode,
                time_factor=language.time_factor,
                compiled=language.compiled,
                starter=language.starter,
                source_name=language.source_name,
                served=None if served is None else name in served,
                toolchain=(served or {}).get(name, ""),
            )
        )
    return out
