"""A view's frequent messages (acks, drags) do not make the kernel publish "busy"; every other
message does, and "idle" is always published (JupyterLab ends its requests on it)."""

import pytest

from pyvr_jupyter.widget.view import quiet_status


class FakeKernel:
    def __init__(self):
        self.published = []
        self.parent = {}

    def _publish_status(self, status, channel, parent=None):
        self.published.append(status)

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
    quiet_status.forget("view-1")
    assert handle(kernel, comm_msg("view-1", "ack")) == ["busy", "idle"]


def test_without_a_kernel_nothing_is_wrapped(monkeypatch):
    monkeypatch.setattr(quiet_status, "_kernel", lambda: None)
    quiet_status.quiet_status_for("view-2")
    assert "view-2" not in quiet_status._comm_ids


def test_a_view_registers_its_comm_and_is_forgotten_once_freed(kernel):
    import gc
    import time

    from pyvr_jupyter import VolumeView, create_test_volume

    view = VolumeView(create_test_volume((16, 16, 16), "torus"), width=32, height=32)
    comm_id = view.model_id
    assert handle(kernel, comm_msg(comm_id, "orbit")) == ["idle"]
    view.close()
    del view
    deadline = time.monotonic() + 10
    while comm_id in quiet_status._comm_ids and time.monotonic() < deadline:  # its worker exits first
        gc.collect()
        time.sleep(0.05)
    assert comm_id not in quiet_status._comm_ids
