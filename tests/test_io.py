"""Result pairs (.npz + .json): names, identifiers, kills at any instant, modes, History files."""

import json
import os
import re
import stat

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.io import (
    atomic_write_bytes,
    copy_pair,
    load_arrays_and_metadata,
    pair_exists,
    pair_paths,
    remove_pair,
    save_arrays_and_metadata,
)

# -- a process killed after its k-th file operation ------------------------------------------

_FILE_OPERATIONS = ("open", "write", "fsync", "replace", "rename", "unlink", "link", "mkdir", "rmdir")


class _Killed(BaseException):
    """The process died: no later file operation happens."""


class _KillAfter:
    """Patch the file operations of ``os`` so that the ``k``-th and every later one raise :class:`_Killed`.

    ``os.close`` still works (it changes no file), so no descriptor leaks; a
    clean-up handler that runs after the kill cannot touch the files either.
    """

    def __init__(self, monkeypatch, k):
        self.monkeypatch, self.k, self.operations, self.killed = monkeypatch, k, [], False

    def __enter__(self):
        self.context = self.monkeypatch.context()
        patch = self.context.__enter__()
        for name in _FILE_OPERATIONS:
            patch.setattr(os, name, self._wrap(name, getattr(os, name)))
        return self

    def _wrap(self, name, original):
        def operation(*args, **kwargs):
            if len(self.operations) >= self.k:
                self.killed = True
                raise _Killed(name)
            self.operations.append(name)
            return original(*args, **kwargs)

        return operation

    def __exit__(self, kind, value, traceback):
        self.context.__exit__(None, None, None)
        return kind is _Killed


@pytest.fixture
def no_fsync(monkeypatch):
    """fsync makes writes durable across power loss, not across kills; skipped here for speed."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def _save(stem, version):
    return save_arrays_and_metadata(stem, {"x": np.full(3, version), "y": np.arange(version + 1)}, {"version": version})


def _loaded_version(stem):
    """The version a load gives (None: no pair), after checking arrays and metadata are of one save."""
    try:
        arrays, meta = load_arrays_and_metadata(stem)
    except FileNotFoundError:
        assert not pair_exists(stem)
        return None
    version = meta["version"]
    np.testing.assert_array_equal(arrays["x"], np.full(3, version))
    np.testing.assert_array_equal(arrays["y"], np.arange(version + 1))
    assert set(arrays) == {"x", "y"}
    return version


def _save_killed(monkeypatch, stem, version, k):
    with _KillAfter(monkeypatch, k) as kill:
        _save(stem, version)
    return kill


def _copy_folder(src, dst):
    dst.mkdir(parents=True)
    for path in src.iterdir():
        (dst / path.name).write_bytes(path.read_bytes())


def test_a_kill_at_any_instant_leaves_the_old_pair_or_the_new_one(tmp_path, monkeypatch, no_fsync):
    outcomes, k = [], 0
    while True:  # killed after k file operations, for every k until the save completes
        stem = tmp_path / f"k{k}" / "run.v1"
        _save(stem, 1)
        kill = _save_killed(monkeypatch, stem, 2, k)
        version = _loaded_version(stem)
        assert version in (1, 2), (k, version)
        outcomes.append(version)
        # a second save over whatever the kill left, itself killed after every j operations
        j = 0
        while True:
            again = tmp_path / f"k{k}_j{j}" / "run.v1"
            _copy_folder(stem.parent, again.parent)
            second = _save_killed(monkeypatch, again, 3, j)
            got = _loaded_version(again)
            assert got in (version, 3), (k, j, version, got)
            if not second.killed:
                assert got == 3
                # a completed save leaves its pair and nothing else
                assert sorted(p.name for p in again.parent.iterdir()) == ["run.v1.json", "run.v1.npz"]
                break
            j += 1
        if not kill.killed:
            break
        k += 1
    # two temporaries written, the old arrays moved to the backup, two renames, the backup removed
    assert kill.operations.count("replace") == 3 and kill.operations.count("unlink") == 1
    # the old pair until the commit (the .json rename), the new one from then on
    commit = next(i for i, (a, b) in enumerate(zip(outcomes, outcomes[1:])) if a != b)
    assert outcomes == [1] * (commit + 1) + [2] * (len(outcomes) - commit - 1)
    assert outcomes.count(1) > 5


def test_a_kill_during_a_first_save_leaves_no_pair_or_the_new_one(tmp_path, monkeypatch, no_fsync):
    outcomes, k = [], 0
    while True:
        stem = tmp_path / f"k{k}" / "r"
        kill = _save_killed(monkeypatch, stem, 1, k)
        version = _loaded_version(stem)
        outcomes.append(version)
        assert pair_exists(stem) == (version == 1)
        if version is None:
            with pytest.raises(FileNotFoundError, match=re.escape(f"missing result file {stem}.json")):
                load_arrays_and_metadata(stem)
        if not kill.killed:
            break
        k += 1
    assert outcomes[-1] == 1 and None in outcomes
    assert outcomes == sorted(outcomes, key=lambda v: v is not None)


def test_a_kill_between_the_renames_falls_back_to_the_backup(tmp_path, monkeypatch, no_fsync):
    stem = tmp_path / "r"
    _save(stem, 1)
    renames = []
    original = os.replace

    def replace(src, dst):
        renames.append(os.path.basename(dst))
        if len(renames) == 3:  # backup, new .npz, then the .json: killed before the commit
            raise _Killed
        original(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(_Killed):
        _save(stem, 2)
    monkeypatch.setattr(os, "replace", original)
    assert renames == [".r.npz.prev", "r.npz", "r.json"]
    # the new arrays are in r.npz, the json still describes the old pair, whose arrays are the backup
    with np.load(tmp_path / "r.npz") as data:
        assert data["x"][0] == 2
    assert _loaded_version(stem) == 1
    _save(stem, 3)
    assert _loaded_version(stem) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.npz"]


def test_pair_names_keep_dots_and_drop_only_npz_or_json(tmp_path):
    assert pair_paths(tmp_path / "exp.checkpoint") == (tmp_path / "exp.checkpoint.npz", tmp_path / "exp.checkpoint.json")
    assert pair_paths(tmp_path / "lr0.01.npz") == (tmp_path / "lr0.01.npz", tmp_path / "lr0.01.json")
    assert pair_paths(tmp_path / "lr0.01.json") == (tmp_path / "lr0.01.npz", tmp_path / "lr0.01.json")
    _save(tmp_path / "exp", 1)
    _save(tmp_path / "exp.checkpoint", 2)
    assert _loaded_version(tmp_path / "exp") == 1 and _loaded_version(tmp_path / "exp.checkpoint.npz") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.checkpoint.json", "exp.checkpoint.npz", "exp.json", "exp.npz"]


def test_both_files_carry_the_identifier(tmp_path):
    npz, js = _save(tmp_path / "r", 1)
    storage = json.loads(js.read_text())["storage"]
    with np.load(npz) as data:
        assert str(data["storage_id"]) == storage["id"] and re.fullmatch("[0-9a-f]{32}", storage["id"])
    import hashlib

    assert storage["npz_sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
    arrays, meta = load_arrays_and_metadata(tmp_path / "r")
    assert meta == {"version": 1} and "storage_id" not in arrays


def test_files_of_different_saves_are_refused_naming_both(tmp_path):
    _save(tmp_path / "a", 1)
    _save(tmp_path / "b", 2)
    (tmp_path / "a.npz").write_bytes((tmp_path / "b.npz").read_bytes())
    id_a = json.loads((tmp_path / "a.json").read_text())["storage"]["id"]
    id_b = json.loads((tmp_path / "b.json").read_text())["storage"]["id"]
    message = (f"{tmp_path / 'a.npz'} and {tmp_path / 'a.json'} are not one pair: the .npz has identifier {id_b!r}, "
               f"the .json {id_a!r} (files of different saves)")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_arrays_and_metadata(tmp_path / "a")


def test_an_npz_changed_after_saving_is_refused(tmp_path):
    npz, js = _save(tmp_path / "r", 1)
    pair_id = json.loads(js.read_text())["storage"]["id"]
    np.savez(npz, x=np.full(3, 9), y=np.arange(2), storage_id=np.array(pair_id))
    with pytest.raises(ValueError, match=re.escape(f"{npz} does not match {js}: the .npz has the pair's identifier but not "
                                                   "the content the .json records")):
        load_arrays_and_metadata(tmp_path / "r")


def test_pairs_without_identifier_still_load(tmp_path):
    np.savez(tmp_path / "old.npz", x=np.arange(3))
    (tmp_path / "old.json").write_text(json.dumps({"version": 0}))
    arrays, meta = load_arrays_and_metadata(tmp_path / "old")
    np.testing.assert_array_equal(arrays["x"], np.arange(3))
    assert meta == {"version": 0}
    # an identifier in one file only is a mix
    _save(tmp_path / "new", 1)
    (tmp_path / "new.json").write_text(json.dumps({"version": 1}))
    with pytest.raises(ValueError, match="are not one pair: the .npz has identifier '[0-9a-f]{32}', the .json None"):
        load_arrays_and_metadata(tmp_path / "new")


def _write_npy(path, array):
    with open(path, "wb") as fh:
        np.save(fh, array)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda npz, js: js.write_text(js.read_text()[:40]), "{js} is not valid JSON (truncated or edited?): "),
    (lambda npz, js: js.write_text("[1, 2]"), "{js} should hold a JSON object of metadata, got a JSON list"),
    (lambda npz, js: js.write_text('{"storage": 3}'), "{js}: 'storage' should be an object with the strings 'id' and 'npz_sha256', got 3"),
    (lambda npz, js: npz.write_bytes(npz.read_bytes()[:100]), "{npz} is not a readable .npz file (truncated or corrupted?): "),
    (lambda npz, js: _write_npy(npz, np.arange(3)), "{npz} is not a readable .npz file: it holds a single array"),
])
def test_damaged_files_give_errors_naming_them(tmp_path, damage, message):
    npz, js = _save(tmp_path / "r", 1)
    damage(npz, js)
    with pytest.raises(ValueError, match="^" + re.escape(message.format(npz=npz, js=js))):
        load_arrays_and_metadata(tmp_path / "r")


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"missing result file {tmp_path / 'r.json'} (expected a .npz/.json pair at {tmp_path / 'r'})")):
        load_arrays_and_metadata(tmp_path / "r")
    npz, _ = _save(tmp_path / "r", 1)
    npz.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(f"missing result file {npz}")):
        load_arrays_and_metadata(tmp_path / "r")


def test_reserved_names_and_object_arrays_are_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="the array name 'storage_id' is reserved"):
        save_arrays_and_metadata(tmp_path / "r", {"storage_id": np.zeros(1)}, {})
    with pytest.raises(ValueError, match="the metadata key 'storage' is reserved"):
        save_arrays_and_metadata(tmp_path / "r", {}, {"storage": 1})
    with pytest.raises(TypeError, match="array 'a' has dtype object"):
        save_arrays_and_metadata(tmp_path / "r", {"a": np.array([None])}, {})
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_copy_and_remove_pairs(tmp_path):
    _save(tmp_path / "a", 1)
    copy_pair(tmp_path / "a", tmp_path / "b")
    assert _loaded_version(tmp_path / "b") == 1
    assert json.loads((tmp_path / "a.json").read_text())["storage"]["id"] != json.loads((tmp_path / "b.json").read_text())["storage"]["id"]
    (tmp_path / ".a.npz.prev").write_bytes(b"left by a kill")
    (tmp_path / f".a.json.{'0' * 32}.tmp").write_bytes(b"left by a kill")
    remove_pair(tmp_path / "a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "b.npz"]
    remove_pair(tmp_path / "a")  # nothing left to remove


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_mode_of_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        npz, js = _save(tmp_path / "r", 1)
        _save(tmp_path / "r", 2)  # replacing a pair
        png = atomic_write_bytes(tmp_path / "plot.png", b"png")
        hist = bp.History([0, 1], {"test_error": np.ones((1, 2))}, [0.1], [0], [-1], {})
        h_npz, h_js = hist.save(tmp_path / "hist")
    finally:
        os.umask(previous)
    for path in (npz, js, png, h_npz, h_js):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


# -- History files ------------------------------------------------------------------------------


def _history(n_members=2, n_records=3):
    lrs = np.repeat([0.01, 0.03], n_members // 2)
    seeds = np.tile(np.arange(n_members // 2), 2)
    records = {"test_error": np.arange(n_members * n_records, dtype=float).reshape(n_members, n_records),
               "weight_norms": np.ones((n_members, n_records, 2))}
    config = {"rule": {"name": "node_perturbation"}, "learning_rates": lrs.tolist(), "seeds": seeds.tolist(), "n_epochs": n_records - 1}
    return bp.History(np.arange(n_records), records, lrs, seeds, np.full(n_members, -1), config, {"numpy": np.__version__})


def test_history_round_trip_and_member(tmp_path):
    hist = _history(4)
    hist.save(tmp_path / "h.v1")
    loaded = bp.History.load(tmp_path / "h.v1.json")
    np.testing.assert_array_equal(loaded.records["weight_norms"], hist.records["weight_norms"])
    assert loaded.config == hist.config and loaded.versions == hist.versions
    hist.member(3).save(tmp_path / "m3")  # a member keeps the configuration of its run
    member = bp.History.load(tmp_path / "m3")
    assert member.n_members == 1 and member.learning_rates[0] == 0.03 and member.seeds[0] == 1


def _edit_json(js, edit):
    meta = json.loads(js.read_text())
    edit(meta)
    js.write_text(json.dumps(meta))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda npz, js: js.write_text(js.read_text()[:-30]), "{js} is not valid JSON (truncated or edited?): "),
    (lambda npz, js: js.write_text("[]"), "{js} should hold a JSON object of metadata, got a JSON list"),
    (lambda npz, js: _edit_json(js, lambda m: m.pop("versions")),
     "{js} should hold the object 'versions' of a saved History but lacks it"),
    (lambda npz, js: _edit_json(js, lambda m: m.update(config=[1])),
     "{js} should hold the object 'config' of a saved History but has a JSON list"),
    (lambda npz, js: _edit_json(js, lambda m: m.update(kind="bioplastic.Checkpoint")),
     "{js} does not hold a bioplastic History (kind='bioplastic.Checkpoint')"),
    (lambda npz, js: _edit_json(js, lambda m: m["config"]["learning_rates"].pop()),
     "{js}: the configuration lists 3 learning_rates but 4 seeds (one of each per member)"),
    (lambda npz, js: _edit_json(js, lambda m: m["config"].update(learning_rates=[0.01, 0.01, 0.02, 0.02])),
     "{npz} and {js} disagree: member 2 has learning rate 0.03 and seed 0, which the configuration's 4 members "
     "(learning_rates [0.01, 0.01, 0.02, 0.02], seeds [0, 1, 0, 1]) do not hold"),
    (lambda npz, js: npz.write_bytes(npz.read_bytes()[:-10]), "{npz} is not a readable .npz file (truncated or corrupted?): "),
])
def test_damaged_history_files_give_errors_naming_them(tmp_path, damage, message):
    npz, js = _history(4).save(tmp_path / "h")
    damage(npz, js)
    with pytest.raises(ValueError, match="^" + re.escape(message.format(npz=npz, js=js))):
        bp.History.load(tmp_path / "h")


@pytest.mark.parametrize(("arrays", "message"), [
    ({"learning_rates": [0.01, 0.03, 0.03]},
     "seeds should have shape (n_members,) = (3,) like learning_rates, got (2,)"),
    ({"learning_rates": [0.01], "seeds": [0], "diverged_epoch": [-1]},
     "records['test_error'] should have shape (n_members, n_records, ...) = (1, 3, ...) for 1 learning_rates and "
     "3 epochs, got (2, 3)"),
    ({"epochs": [0, 1]},
     "records['test_error'] should have shape (n_members, n_records, ...) = (2, 2, ...) for 2 learning_rates and "
     "2 epochs, got (2, 3)"),
    ({"epochs": None}, "lacks the array 'epochs' of a saved History"),
])
def test_history_arrays_of_inconsistent_shapes_are_refused_on_load(tmp_path, arrays, message):
    hist = _history(2)
    stored = hist._arrays()
    for key, value in arrays.items():
        if value is None:
            stored.pop(key)
        else:
            stored[key] = np.asarray(value)
    npz, js = save_arrays_and_metadata(tmp_path / "h", stored, {"kind": "bioplastic.History", "config": {}, "versions": {}})
    with pytest.raises(ValueError, match=re.escape(f"{npz}") + ".*" + re.escape(message)):
        bp.History.load(tmp_path / "h")


def test_history_checks_shapes_when_built():
    with pytest.raises(ValueError, match=re.escape("records['test_error'] should have shape (n_members, n_records, ...) = "
                                                   "(2, 3, ...) for 2 learning_rates and 3 epochs, got (3,)")):
        bp.History([0, 1, 2], {"test_error": np.zeros(3)}, [0.1, 0.2], [0, 0], [-1, -1], {})
    with pytest.raises(ValueError, match=re.escape("diverged_epoch should have shape (n_members,) = (2,) like learning_rates, got (1,)")):
        bp.History([0, 1, 2], {"test_error": np.zeros((2, 3))}, [0.1, 0.2], [0, 0], [-1], {})
    with pytest.raises(ValueError, match=re.escape("epochs should be 1-D (one entry per record), got shape (1, 3)")):
        bp.History([[0, 1, 2]], {}, [0.1], [0], [-1], {})
    with pytest.raises(ValueError, match="config should be a dict, got list"):
        bp.History([0], {}, [0.1], [0], [-1], [])


def test_reading_the_identifier_of_a_truncated_npz_closes_the_file(tmp_path):
    import gc
    import warnings

    from bioplastic.io import _npz_id

    path = tmp_path / "cut.npz"
    np.savez(path, a=np.arange(100))
    path.write_bytes(path.read_bytes()[:60])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        assert _npz_id(path) is None
        gc.collect()  # an unclosed handle would warn here
