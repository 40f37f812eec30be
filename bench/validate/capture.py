"""Where new connections' request bytes wait: a packet capture of a validation run, read back.

Capture while a case runs, then read the capture:

    tcpdump -i lo -s 160 -w run.pcap tcp &
    python -m bench.validate.run --cases worker-ka-overload-block
    kill -INT %1
    python -m bench.validate.capture run.pcap

The httpd port is the one that received the most SYNs. Each connection (client port and initial
sequence number) is classified by what was retransmitted before the server answered: the SYN
(the accept queue was full, the SYN was dropped), the server's SYN-ACK, and the request itself
(sent after the client's connect returned, dropped with the handshake's last ACK while the queue
was full). The last line counts the connections a bare ACK completed before their request
arrived: with a plain accept queue (`AcceptFilter http none`) a worker accepts each and waits in
the scoreboard's R state until the client resends the request.

A case with `capture: true` has the harness capture its handshakes this way while it runs
(`handshakes`): P(block) is then the share of connections the full queue turned away at least
once, which the client's timings alone cannot tell from a long wait in the queue.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_SYN, _ACK, _SYN_ACK = 0x02, 0x10, 0x12
_PCAP_MAGIC_US, _PCAP_MAGIC_NS = 0xA1B2C3D4, 0xA1B23C4D


@dataclass(frozen=True, slots=True)
class Packet:
    """One TCP segment; `from_client` is filled in once the server port is known."""

    time_s: float
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    payload: int


def read_pcap(path: Path) -> list[Packet]:
    """The IPv4 TCP segments of a classic pcap file (Ethernet link type, as tcpdump on lo)."""
    data = path.read_bytes()
    if len(data) < 24:
        raise SystemExit(f"{path}: not a pcap file")
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (_PCAP_MAGIC_US, _PCAP_MAGIC_NS):
        raise SystemExit(f"{path}: not a little-endian classic pcap file")
    scale = 1e-9 if magic == _PCAP_MAGIC_NS else 1e-6
    out: list[Packet] = []
    offset = 24
    while offset + 16 <= len(data):
        seconds, fraction, captured, _ = struct.unpack("<IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + captured]
        offset += 16 + captured
        if len(frame) < 54 or struct.unpack("!H", frame[12:14])[0] != 0x0800:
            continue
        ip = frame[14:]
        if ip[9] != 6:
            continue
        header = (ip[0] & 15) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[header:]
        sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
        offset_words = tcp[12] >> 4
        out.append(
            Packet(
                time_s=seconds + fraction * scale,
                sport=sport,
                dport=dport,
                seq=seq,
                ack=ack,
                flags=tcp[13],
                payload=total - header - 4 * offset_words,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Connection:
    """One connection's segments in time order, each marked as sent by the client or not."""

    segments: tuple[tuple[bool, Packet], ...]

    def client(self) -> list[Packet]:
        return [p for from_client, p in self.segments if from_client]

    def server(self) -> list[Packet]:
        return [p for from_client, p in self.segments if not from_client]


def connections(packets: Sequence[Packet]) -> tuple[int, list[Connection]]:
    """(the httpd port, its connections split by client port and initial sequence number)."""
    syns = Counter(p.dport for p in packets if p.flags & _SYN and not p.flags & _ACK)
    if not syns:
        raise SystemExit("no SYN in the capture")
    port = syns.most_common(1)[0][0]
    by_port: dict[int, list[tuple[bool, Packet]]] = defaultdict(list)
    for p in packets:
        if p.dport == port:
            by_port[p.sport].append((True, p))
        elif p.sport == port:
            by_port[p.dport].append((False, p))
    out: list[Connection] = []
    for segments in by_port.values():
        current: list[tuple[bool, Packet]] | None = None
        isn = None
        for from_client, p in segments:
            is_syn = from_client and p.flags & _SYN and not p.flags & _ACK
            if is_syn and p.seq != isn:
                isn = p.seq
                current = []
                out.append(Connection(()))
            if current is not None:
                current.append((from_client, p))
                out[-1] = Connection(tuple(current))
    return port, out


@dataclass(frozen=True, slots=True)
class Timeline:
    """What happened to one connection's first request (times in seconds from its first SYN)."""

    syns: int
    syn_acks: int
    request_copies: int
    request_taken_s: float  # the copy the server acknowledged
    answered_after_s: float  # the server's first bytes, after the copy it took
    completed_without_request_s: float | None  # bare ACK completing it, before the request


def timeline(conn: Connection) -> Timeline | None:
    """The first request's story, or None when the capture holds no answered request."""
    client, server = conn.client(), conn.server()
    data = [p for p in client if p.payload > 0]
    syn_acks = [p for p in server if p.flags & _SYN_ACK == _SYN_ACK]
    answers = [p for p in server if p.payload > 0]
    if not data or not syn_acks or not answers:
        return None
    first = data[0]
    end = (first.seq + first.payload) & 0xFFFFFFFF
    acked = [p for p in server if p.ack == end]
    if not acked:
        return None
    copies = [p for p in data if p.seq == first.seq]
    taken = [p for p in copies if p.time_s <= acked[0].time_s + 1e-4][-1]
    start = client[0].time_s
    before = [p for p in syn_acks if p.time_s < taken.time_s]
    completed = None
    if len(before) > 1:
        bare = [
            p
            for p in client
            if p.flags == _ACK and p.payload == 0 and before[-1].time_s <= p.time_s < taken.time_s
        ]
        if bare:
            completed = taken.time_s - bare[0].time_s
    return Timeline(
        syns=sum(1 for p in client if p.flags & _SYN),
        syn_acks=len(syn_acks),
        request_copies=len(copies),
        request_taken_s=taken.time_s - start,
        answered_after_s=answers[0].time_s - taken.time_s,
        completed_without_request_s=completed,
    )


@dataclass(frozen=True, slots=True)
class Handshake:
    """One connection's handshake: when its client first sent the SYN (wall clock, s), how many
    SYNs it sent and how many SYN-ACKs the server sent back."""

    first_syn_s: float
    syns: int
    syn_acks: int

    @property
    def blocked(self) -> bool:
        """The accept queue turned it away at least once: its SYN was dropped (sent again), or
        the handshake's last ACK was (the server sent its SYN-ACK again), or it never got in."""
        return self.syns > 1 or self.syn_acks != 1


def handshakes(packets: Sequence[Packet]) -> list[Handshake]:
    """The handshakes of the capture's connections to its httpd port (`connections`); a
    capture of SYN segments alone (`tcp[tcpflags] & tcp-syn != 0`) is enough. None without
    a client's SYN."""
    if not any(p.flags & _SYN and not p.flags & _ACK for p in packets):
        return []
    _, conns = connections(packets)
    out: list[Handshake] = []
    for conn in conns:
        client, server = conn.client(), conn.server()
        syns = [p for p in client if p.flags & _SYN and not p.flags & _ACK]
        if not syns:
            continue
        syn_acks = sum(1 for p in server if p.flags & _SYN_ACK == _SYN_ACK)
        out.append(Handshake(syns[0].time_s, len(syns), syn_acks))
    return out


def summary(path: Path) -> str:
    packets = read_pcap(path)
    port, conns = connections(packets)
    lines = [f"{path}: {len(packets)} segments, httpd port {port}, {len(conns)} connections"]
    kinds: dict[str, list[Timeline]] = defaultdict(list)
    waiting = []
    for conn in conns:
        t = timeline(conn)
        if t is None:
            continue
        parts = [
            name
            for name, hit in (
                ("SYN resent", t.syns > 1),
                ("SYN-ACK resent", t.syn_acks > 1),
                ("request resent", t.request_copies > 1),
            )
            if hit
        ]
        kinds[", ".join(parts) or "nothing resent"].append(t)
        if t.completed_without_request_s is not None:
            waiting.append(t.completed_without_request_s)
    for kind, items in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        taken = statistics.median(t.request_taken_s for t in items)
        answered = statistics.median(t.answered_after_s for t in items)
        lines.append(
            f"  {kind:40s} {len(items):6d}  request taken after {1000 * taken:7.1f} ms, "
            f"answered {1000 * answered:6.1f} ms later (medians)"
        )
    span = packets[-1].time_s - packets[0].time_s
    mean_wait = statistics.fmean(waiting) if waiting else 0.0
    lines.append(
        f"completed by a bare ACK before their request: {len(waiting)} connections, "
        f"{1000 * mean_wait:.0f} ms each on average, {sum(waiting) / span:.2f} at a time over "
        f"the {span:.0f} s capture"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.validate.capture", description=__doc__)
    parser.add_argument("pcap", type=Path, help="tcpdump -w file of a validation run on lo")
    args = parser.parse_args(argv)
    print(summary(args.pcap))
    return 0


if __name__ == "__main__":
    sys.exit(main())
