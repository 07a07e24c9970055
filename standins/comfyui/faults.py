"""Failure injection for the ComfyUI stand-in, flipped at runtime by tests through `server.faults`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Faults:
    """Each field is one kind of failure; the defaults reproduce a healthy server (with its known bugs)."""

    html_502: bool = False  # every HTTP route answers a reverse proxy's HTML 502 page
    http_500_paths: set[str] = field(default_factory=set)  # these paths answer 500 text/plain
    stall: bool = False  # HTTP handlers and the ws handshake accept and never answer
    drop_socket_after: int | None = None  # close every socket abruptly after this many frames sent to it
    fail_node_class: str | None = None  # nodes of this class raise an execution_error
    orphan_sockets: bool = True  # reproduce the server's duplicate-client-id bug
    silent_socket: bool = False  # sockets stay open but receive nothing (for the watchdog)
    # `/view` sends the headers of the whole file (or range), then drops the connection after this many body
    # bytes, `cut_view_times` times (each cut counts down; at 0 downloads complete again).
    cut_view_after: int | None = None
    cut_view_times: int = 1
    # The next binary preview frame carries an image padded to this many bytes (a big-frame test).
    large_frame_bytes: int | None = None
