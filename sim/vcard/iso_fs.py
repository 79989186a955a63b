"""A small ISO 7816-4 file system for virtual cards: DFs, transparent EFs, SELECT, READ BINARY.

Enough for a PKCS#15 card as OpenSC and our own reader use it: SELECT by file
id (P1 00/01/02), by DF name (04), by path from the MF (08) or from the
current DF (09); FCP answers with size, type, id and DF name; READ BINARY with
offsets and ``6282`` at the end of a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hw import tlv

MF_ID = 0x3F00


@dataclass
class ElementaryFile:
    """A transparent EF."""

    fid: int
    data: bytes


@dataclass
class DedicatedFile:
    """A DF (the MF is the root one), optionally with an application name (AID)."""

    fid: int
    aid: bytes | None = None
    children: dict[int, ElementaryFile | DedicatedFile] = field(default_factory=dict)
    parent: DedicatedFile | None = None

    def add(self, child: ElementaryFile | DedicatedFile) -> ElementaryFile | DedicatedFile:
        """Attach a child file and return it."""
        if isinstance(child, DedicatedFile):
            child.parent = self
        self.children[child.fid] = child
        return child


def fcp(file: ElementaryFile | DedicatedFile) -> bytes:
    """The File Control Parameters template (tag 62) for a file."""
    items: list[tuple[int, bytes]] = []
    if isinstance(file, ElementaryFile):
        items.append((0x80, len(file.data).to_bytes(2, "big")))
        items.append((0x82, b"\x01"))  # working EF, transparent
    else:
        items.append((0x82, b"\x38"))  # DF
    items.append((0x83, file.fid.to_bytes(2, "big")))
    if isinstance(file, DedicatedFile) and file.aid:
        items.append((0x84, file.aid))
    items.append((0x8A, b"\x05"))  # life cycle: operational, activated
    return tlv.encode_tlv(0x62, tlv.encode_all(items))


class FileSystem:
    """Selection state over a tree of files."""

    def __init__(self, mf: DedicatedFile) -> None:
        self.mf = mf
        self.current_df = mf
        self.current_ef: ElementaryFile | None = None

    def reset(self) -> None:
        """After power-up the MF is selected."""
        self.current_df, self.current_ef = self.mf, None

    def _all_dfs(self) -> list[DedicatedFile]:
        found, stack = [], [self.mf]
        while stack:
            df = stack.pop()
            found.append(df)
            stack.extend(c for c in df.children.values() if isinstance(c, DedicatedFile))
        return found

    def _walk(self, start: DedicatedFile, path: bytes) -> ElementaryFile | DedicatedFile | None:
        if len(path) % 2:
            return None
        node: ElementaryFile | DedicatedFile = start
        for i in range(0, len(path), 2):
            fid = int.from_bytes(path[i : i + 2], "big")
            if not isinstance(node, DedicatedFile):
                return None
            child = node.children.get(fid)
            if child is None:
                return None
            node = child
        return node

    def select(self, p1: int, data: bytes) -> ElementaryFile | DedicatedFile | None:
        """Find the file SELECT names; make it current; ``None`` if there is none."""
        target: ElementaryFile | DedicatedFile | None = None
        if p1 == 0x04:
            target = next((df for df in self._all_dfs() if df.aid and df.aid == data), None)
        elif p1 in (0x00, 0x01, 0x02):
            if not data or data == MF_ID.to_bytes(2, "big"):
                target = self.mf if p1 == 0x00 else None
            elif len(data) == 2:
                fid = int.from_bytes(data, "big")
                child = self.current_df.children.get(fid)
                if child is None and p1 == 0x00 and self.current_df.parent is not None:
                    parent = self.current_df.parent
                    child = parent.children.get(fid) if fid != parent.fid else parent
                if p1 == 0x01 and not isinstance(child, DedicatedFile):
                    child = None
                if p1 == 0x02 and not isinstance(child, ElementaryFile):
                    child = None
                target = child
        elif p1 == 0x08:
            path = data[2:] if data[:2] == MF_ID.to_bytes(2, "big") else data
            target = self._walk(self.mf, path)
        elif p1 == 0x09:
            target = self._walk(self.current_df, data)
        if target is None:
            return None
        if isinstance(target, DedicatedFile):
            self.current_df, self.current_ef = target, None
        else:
            parent = self._parent_of(target)
            self.current_df, self.current_ef = parent, target
        return target

    def _parent_of(self, ef: ElementaryFile) -> DedicatedFile:
        for df in self._all_dfs():
            if df.children.get(ef.fid) is ef:
                return df
        return self.mf
