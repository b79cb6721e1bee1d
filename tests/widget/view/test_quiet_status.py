"""A view's frequent messages (acks, drags) do not make the kernel publish "busy"; every other
message does, and "idle" is always published (JupyterLab ends its requests on it). The wrapper
passes any arguments through, applies only to the ipykernel versions it is tested with, can be
switched off, and is undone when the last view closes."""

import json
import os
import subprocess
import sys

import ipykernel
import pytest

from pyvr_jupyter.widget.view import quiet_status


class FakeKernel:
    def __init__(self):
        self.published = []
        self.parent = {}

    def _publish_status(self, status, channel, parent=None, **extra):
        self.published.append((status, extra) if extra else status)

    def get_parent(self, channel="shell"):
        return self.parent


def comm_msg(comm_id, kind, method="custom"):
    return {"header": {"msg_type": "comm_msg"},
            "content": {"comm_id": comm_id, "data": {"method": method, "content": {"type": kind}}}}


@pytest.fixture
def kernel(monkeypatch):
    fake = FakeKernel()
    monkeypatch.setattr(quiet_status, "_kernel", lambda: fake)
    monkeypatch.setattr(quiet_status, "_comm_ids", set())
    monkeypatch.setattr(quiet_status, "_installed", {})
    monkeypatch.setattr(quiet_status, "enabled", True)
    return fake


def handle(kernel, message):
    """As ipykernel does around every shell message: busy, (handler), idle."""
    kernel.parent = message
    kernel.published.clear()
    kernel._publish_status("busy", "shell")
    kernel._publish_status("idle", "shell")
    return list(kernel.published)


def test_only_the_busy_of_a_views_frequent_messages_is_dropped(kernel):
    quiet_status.quiet_status_for("view-1")
    quiet_status.quiet_status_for("view-1")  # wraps the kernel once
    for kind in ("ack", "orbit", "pan", "zoom"):
        assert handle(kernel, comm_msg("view-1", kind)) == ["idle"]
    assert handle(kernel, comm_msg("view-1", "end")) == ["busy", "idle"]  # rare: as usual
    assert handle(kernel, comm_msg("view-1", "ack", method="update")) == ["busy", "idle"]
    assert handle(kernel, comm_msg("other-widget", "ack")) == ["busy", "idle"]
    assert handle(kernel, {"header": {"msg_type": "execute_request"}, "content": {}}) == ["busy", "idle"]
    assert handle(kernel, {"header": {"msg_type": "comm_msg"}, "content": "junk"}) == ["busy", "idle"]
    quiet_status.quiet_status_for("view-2")  # another view keeps the wrapper when view-1 goes
    quiet_status.forget("view-1")
    assert handle(kernel, comm_msg("view-1", "ack")) == ["busy", "idle"]


def test_any_arguments_pass_through(kernel):
    """A later ipykernel may add arguments: every one reaches the kernel's method, by position or name."""
    quiet_status.quiet_status_for("view-1")
    kernel.parent = comm_msg("view-1", "ack")
    kernel._publish_status("idle", "shell", None, extra=1)
    kernel._publish_status(status="busy", channel="shell", parent=comm_msg("view-1", "end"), extra=2)
    kernel._publish_status(status="busy", channel="shell", parent=comm_msg("view-1", "orbit"), extra=3)
    assert kernel.published == [("idle", {"extra": 1}), ("busy", {"extra": 2})]  # the orbit's busy is dropped


def test_the_last_view_that_goes_restores_the_kernels_method(kernel):
    quiet_status.quiet_status_for("view-1")
    quiet_status.quiet_status_for("view-2")
    assert "_publish_status" in vars(kernel) and quiet_status.installed()
    quiet_status.forget("view-1")
    assert quiet_status.installed()
    quiet_status.forget("view-2")
    assert "_publish_status" not in vars(kernel) and not quiet_status.installed()
    assert kernel._publish_status.__func__ is FakeKernel._publish_status
    assert handle(kernel, comm_msg("view-2", "ack")) == ["busy", "idle"]


def test_a_method_wrapped_by_someone_else_since_is_left_in_place(kernel):
    quiet_status.quiet_status_for("view-1")
    ours = kernel._publish_status
    kernel._publish_status = lambda *args, **kwargs: ours(*args, **kwargs)  # another library wraps ours
    theirs = kernel._publish_status
    quiet_status.forget("view-1")
    assert kernel._publish_status is theirs
    assert handle(kernel, comm_msg("view-1", "ack")) == ["busy", "idle"]  # ours passes everything through


def test_the_switch_turns_it_off_at_once(kernel, monkeypatch):
    quiet_status.quiet_status_for("view-1")
    monkeypatch.setattr(quiet_status, "enabled", False)
    assert handle(kernel, comm_msg("view-1", "ack")) == ["busy", "idle"]
    quiet_status.quiet_status_for("view-3")  # switched off: nothing new is registered
    assert "view-3" not in quiet_status._comm_ids


def test_the_environment_variable_switches_it_off():
    code = "import json; from pyvr_jupyter.widget.view import quiet_status as q; print(json.dumps(q.enabled))"
    for value, expected in (("0", False), ("1", True)):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, PYVR_QUIET_STATUS=value))
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout.strip().splitlines()[-1]) is expected


@pytest.mark.parametrize("version, wraps", [("6.29.5", True), ("7.1.0", True), ("8.0.0", False), ("5.5.6", False),
                                            ("dev", False)])
def test_only_tested_ipykernel_versions_are_wrapped(kernel, monkeypatch, version, wraps):
    monkeypatch.setattr(ipykernel, "__version__", version)
    quiet_status.quiet_status_for("view-1")
    assert quiet_status.installed() is wraps and ("_publish_status" in vars(kernel)) is wraps
    assert handle(kernel, comm_msg("view-1", "ack")) == (["idle"] if wraps else ["busy", "idle"])


def test_without_a_kernel_nothing_is_wrapped(monkeypatch):
    monkeypatch.setattr(quiet_status, "_kernel", lambda: None)
    quiet_status.quiet_status_for("view-2")
    assert "view-2" not in quiet_status._comm_ids


def test_a_view_registers_its_comm_and_closing_the_last_view_unwraps(kernel):
    from pyvr_jupyter import VolumeView, create_test_volume

    views = [VolumeView(create_test_volume((16, 16, 16), "torus"), width=32, height=32) for _ in range(2)]
    assert handle(kernel, comm_msg(views[0].model_id, "orbit")) == ["idle"]
    views[0].close()
    assert handle(kernel, comm_msg(views[1].model_id, "orbit")) == ["idle"] and quiet_status.installed()
    comm_id = views[1].model_id
    views[1].close()
    views[1].close()  # twice: nothing more happens
    assert comm_id not in quiet_status._comm_ids and not quiet_status.installed()
    assert "_publish_status" not in vars(kernel)
