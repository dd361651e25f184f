"""Stand-ins, at import, for the packages OptScale's code imports but these tests never call.

`tools/cloud_adapter/cloud.py` imports every cloud's adapter, so importing OptScale's REST
controllers imports the Azure, Google, Alibaba, Nebius (yandex, grpc, jwt) and Databricks
SDKs; `rest_api_server/server.py` imports the PyCharm debugger and the shareable-booking
controllers import OptScale's Google Calendar client (not in ../shared). Only the Kubernetes
adapter runs on the tested paths. Every name of a stubbed module is a class, so it can be
subclassed, raised, caught, called or used as a decorator at import time; anything that
actually called one would fail loudly on its result.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any

STUBBED_PACKAGES = (
    "aliyunsdk",  # every aliyunsdk* package
    "azure",
    "msrest",
    "msrestazure",
    "google",
    "yandexcloud",
    "yandex",
    "grpc",
    "jwt",
    "databricks",
    "pydevd_pycharm",
)
STUBBED_MODULES = ("rest_api.google_calendar_client",)


class _StubType(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        attribute = _StubType(name, (cls,), {})
        setattr(cls, name, attribute)
        return attribute


class Stub(Exception, metaclass=_StubType):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        attribute = _StubType(name, (Stub,), {})
        setattr(self, name, attribute)
        return attribute


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        top = fullname.split(".")[0]
        if top.startswith(STUBBED_PACKAGES) or fullname.startswith(STUBBED_MODULES):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def install() -> None:
    sys.meta_path.insert(0, _Finder())
