"""qconf's share tree commands on a running cluster, answered as Grid Engine 8.1.9's qconf
answers them (texts, streams and exit codes as seen from SGE 8.1.9 on this machine): the
whole tree (-Astree, -sstree, -sst, -dstree) and its nodes (-sstnode, -astnode, -mstnode,
-dstnode), with a tree and without one."""

from __future__ import annotations

from pathlib import Path

from tests import REFERENCE
from tests.clusterlib import Cluster

USER = "name {name}\noticket 0\nfshare 0\ndelete_time 0\ndefault_project NONE\n"
PROJECT = "name projA\noticket 0\nfshare 0\nacl NONE\nxacl NONE\n"


def _answer(cluster: Cluster, *argv: str) -> tuple[int, str, str]:
    proc = cluster.run("qconf", *argv)
    return proc.returncode, proc.stdout, proc.stderr


def _known(cluster: Cluster, tmp_path: Path) -> None:
    """The users and project the reference tree names."""
    for name in ("sgeuser", "sgeuser2"):
        (tmp_path / name).write_text(USER.format(name=name))
        assert cluster.run("qconf", "-Auser", str(tmp_path / name)).returncode == 0
    (tmp_path / "projA").write_text(PROJECT)
    assert cluster.run("qconf", "-Aprj", str(tmp_path / "projA")).returncode == 0


def test_node_commands_on_a_tree(cluster: Cluster, tmp_path: Path) -> None:
    _known(cluster, tmp_path)
    tree = REFERENCE / "qconf_sstree.txt"
    assert _answer(cluster, "-Astree", str(tree)) == (0, "", "changed sharetree\n")
    assert _answer(cluster, "-sstree") == (0, tree.read_text(), "")
    assert _answer(cluster, "-sstnode", "/grp") == (0, "/grp=40\n/grp/sgeuser2=10\n", "")
    assert _answer(cluster, "-mstnode", "/grp=50") == (0, "", "setting \n/grp=50\nmodified sharetree\n")
    assert _answer(cluster, "-mstnode", "/nope=5") == (
        1, "", "Unable to locate /nope in sharetree\nno modifications to sharetree\n")
    assert _answer(cluster, "-astnode", "/grp/sgeuser=5") == (0, "", "setting \n/grp/sgeuser=5\nmodified sharetree\n")
    # an existing node's shares are set
    assert _answer(cluster, "-astnode", "/projA/sgeuser=3") == (
        0, "", "setting \n/projA/sgeuser=3\nmodified sharetree\n")
    assert _answer(cluster, "-astnode", "/grp/nobody=1") == (
        0, "", 'setting \n/grp/nobody=1\ndenied: share tree contains reference to unknown user/project "nobody"\n')
    assert _answer(cluster, "-sstnode", "/grp/sgeuser") == (0, "/grp/sgeuser=5\n", "")
    assert _answer(cluster, "-dstnode", "/grp/sgeuser") == (0, "", "removing \n/grp/sgeuser\nmodified sharetree\n")
    assert _answer(cluster, "-dstnode", "/nope") == (
        1, "", "Unable to locate /nope in sharetree\nno modifications to sharetree\n")
    assert _answer(cluster, "-dstnode", "/grp") == (
        1, "", "can't delete nodes with children\nno modifications to sharetree\n")
    assert _answer(cluster, "-sstnode", "/nope") == (
        1, "", (REFERENCE / "qconf_sstnode_missing.stderr.txt").read_text())
    assert _answer(cluster, "-sst") == (0, "Root=1\n   grp=50\n      sgeuser2=10\n   projA=60\n      sgeuser=3\n", "")
    code, out, err = _answer(cluster, "-dstree")
    assert (code, out) == (0, "") and err.endswith(" removed sharetree list\n")
    assert _answer(cluster, "-dstree") == (1, "", "sharetree does not exist\n")


def test_commands_without_a_tree(cluster: Cluster, tmp_path: Path) -> None:
    _known(cluster, tmp_path)
    assert _answer(cluster, "-sstree") == (1, "", "no sharetree element\n")
    assert _answer(cluster, "-sst") == (0, "", "No sharetree\n")
    assert _answer(cluster, "-sstnode", "/x") == (0, "", "No sharetree\n")
    assert _answer(cluster, "-mstnode", "/x=1") == (0, "", "No sharetree\n")
    assert _answer(cluster, "-dstnode", "/x") == (1, "", "No sharetree\n")
    assert _answer(cluster, "-astnode", "/x=1") == (
        0, "", 'setting \n/x=1\ndenied: share tree contains reference to unknown user/project "x"\n')
    assert _answer(cluster, "-sstree")[0] == 1  # the refusal made no tree
    # a first node makes the tree
    assert _answer(cluster, "-astnode", "/sgeuser=1") == (0, "", "setting \n/sgeuser=1\nmodified sharetree\n")
    assert _answer(cluster, "-sst") == (0, "Root=1\n   sgeuser=1\n", "")
