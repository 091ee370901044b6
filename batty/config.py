"""Load board/config.yaml: the file, the line and what would be valid on any problem."""

from __future__ import annotations

from batty.core import yamlx
from batty.core.config import Config, ConfigProblem, validate
from batty.errors import InvalidInput
from batty.paths import Paths


def load(paths: Paths, *, check_agents: bool = True) -> Config:
    rel = "board/config.yaml"
    try:
        data = paths.config.read_bytes()
    except FileNotFoundError:
        raise InvalidInput("no config", file=rel, valid="run `batty init`") from None
    text = yamlx.decode(data, rel)
    raw = yamlx.load(text, rel)
    try:
        return validate(raw, check_agents=check_agents)
    except ConfigProblem as e:
        line = yamlx.line_of(yamlx.lines(text, rel), e.path)
        raise InvalidInput(e.what, file=rel, line=line, valid=e.valid) from None
