"""Bad local input (issue 15.7, 15.8, 15.10): broken settings, workflows, sidecars and command-line values get a
message that names the problem and the fix, never a traceback and never "This is a GenBridge bug".

Most cases go through `python -m genbridge` (`cli.main`) as a user would type them; nothing here reaches a server
(the URLs point at a closed port on 127.0.0.1).
"""

from __future__ import annotations

import json
import logging

import pytest
from genbridge.cli import main
from genbridge.runtime.errors import ConfigError, RejectedInput
from genbridge.runtime.settings import Settings, unknown_keys
from genbridge.workflows.template import load_template

pytestmark = pytest.mark.timeout(30)

DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port
BUG = "GenBridge bug"


@pytest.fixture
def cli(capsys, tmp_path, monkeypatch):
    """Run the command line; return (exit code, stdout, stderr) and check it ended with a message."""
    monkeypatch.setenv("GENBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err and BUG not in out + err, err
        return code, out, err

    return run


def _workflow(tmp_path, data, name="flow.json", sidecar: str | None = None):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    if sidecar is not None:
        path.with_name(path.stem + ".params.toml").write_text(sidecar)
    return path


GOOD_NODE = {"9": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox"}}}


# -- settings -------------------------------------------------------------------------------------------------------
def test_a_non_http_url_on_the_command_line(cli):
    code, _, err = cli("text", "--url", "ftp://127.0.0.1/x", "hi")
    assert code == 2 and "'ftp://127.0.0.1/x' is not a service URL" in err and "http://127.0.0.1:8188" in err


@pytest.mark.parametrize("port", ["99999", "abc", "0"])
def test_invalid_ports_are_refused_when_settings_load(cli, tmp_path, port):
    config = tmp_path / "g.toml"
    config.write_text(f'[[comfyui]]\nurl = "http://127.0.0.1:{port}"\n')
    code, _, err = cli("--config", str(config), "check")
    assert code == 2 and "invalid port" in err and "1 to 65535" in err and "comfyui.0.url" in err


@pytest.mark.parametrize("value", ['["http://127.0.0.1:9"]', '"http://127.0.0.1:9"'])
def test_endpoints_written_as_plain_urls_are_understood(tmp_path, value):
    config = tmp_path / "g.toml"
    config.write_text(f"comfyui = {value}\n")
    settings = Settings.load(config, env={})
    assert [e.url for e in settings.comfyui] == ["http://127.0.0.1:9"]


@pytest.mark.parametrize("value", ["5", "true", "[5]", "{ url = 3 }"])
def test_endpoints_of_the_wrong_kind_name_the_fix(cli, tmp_path, value):
    config = tmp_path / "g.toml"
    config.write_text(f"comfyui = {value}\n")
    code, _, err = cli("--config", str(config), "check")
    assert code == 2 and "comfyui" in err and ("[[comfyui]]" in err or "url" in err)


def test_settings_file_with_invalid_utf8(cli, tmp_path):
    config = tmp_path / "g.toml"
    config.write_bytes(b'output_dir = "ok"\nlabel = "\xff\xfe"\n')
    code, _, err = cli("--config", str(config), "check")
    assert code == 2 and "not UTF-8" in err and "line 2" in err


def test_settings_path_naming_a_folder(cli, tmp_path):
    code, _, err = cli("--config", str(tmp_path), "check")
    assert code == 2 and "is a folder" in err and ".toml" in err


def test_settings_file_nested_too_deeply(cli, tmp_path):
    config = tmp_path / "g.toml"
    config.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, _, err = cli("--config", str(config), "check")
    assert code == 2 and "nested too deeply" in err


@pytest.mark.parametrize(
    ("toml", "key", "nearest"),
    [
        ("alow_online = true\n", "alow_online", "allow_online"),
        ("[timeouts]\nreqest = 3\n", "timeouts.reqest", "request"),
        ('[[comfyu]]\nurl = "http://127.0.0.1:9"\n', "comfyu", "comfyui"),
        ('[[comfyui]]\nurl = "http://127.0.0.1:9"\nlabl = "box"\n', "comfyui[0].labl", "label"),
        ("reply_limit_md = 3\n", "reply_limit_md", "reply_limit_mb"),
    ],
)
def test_typos_in_settings_keys_are_named_with_the_nearest_key(tmp_path, caplog, toml, key, nearest):
    config = tmp_path / "g.toml"
    config.write_text(toml)
    with caplog.at_level(logging.WARNING, logger="genbridge.settings"):
        Settings.load(config, env={})
    assert f"unknown setting '{key}'" in caplog.text and f"did you mean '{nearest}'" in caplog.text


def test_known_keys_give_no_warning():
    data = {"allow_online": True, "timeouts": {"request": 3}, "comfyui": [{"url": DEAD, "label": "x", "key": "k"}]}
    assert unknown_keys(data) == []


def test_a_key_far_from_every_setting_lists_the_valid_ones():
    [warning] = unknown_keys({"timeouts": {"zzzzzz": 1}})
    assert "timeouts.zzzzzz" in warning and "connect" in warning and "download" in warning


# -- workflows and sidecars -------------------------------------------------------------------------------------------
def test_a_node_whose_inputs_are_a_list_with_set(cli, tmp_path):
    flow = _workflow(tmp_path, {"9": {"class_type": "CLIPTextEncode", "inputs": ["a", "b"]}})
    code, _, err = cli("generate", "--service", "comfyui", "--workflow", str(flow), "--set", "9.text=x", "--url", DEAD)
    assert code == 2 and 'node 9 (CLIPTextEncode) has "inputs" as a list' in err and "Export (API)" in err


def test_a_node_whose_meta_is_not_an_object(cli, tmp_path):
    flow = _workflow(tmp_path, {"9": {"class_type": "X", "inputs": {}, "_meta": "title"}})
    code, _, err = cli("generate", "--service", "comfyui", "--workflow", str(flow), "--url", DEAD)
    assert code == 2 and '"_meta" as a text' in err


def test_a_workflow_nested_200000_deep(cli, tmp_path):
    flow = _workflow(tmp_path, '{"9": ' + "[" * 200_000 + "]" * 200_000 + "}")
    code, _, err = cli("generate", "--service", "comfyui", "--workflow", str(flow), "--url", DEAD)
    assert code == 2 and "nested too deeply" in err


def test_a_set_value_nested_too_deeply(cli, tmp_path):
    flow = _workflow(tmp_path, GOOD_NODE)
    deep = "[" * 100_000
    code, _, err = cli("generate", "--service", "comfyui", "--workflow", str(flow), "--set", f"9.text={deep}")
    assert code == 2 and "nested too deeply" in err and len(err) < 500


def test_a_workflow_path_naming_a_folder(cli, tmp_path):
    code, _, err = cli("generate", "--service", "comfyui", "--workflow", str(tmp_path), "--url", DEAD)
    assert code == 2 and "is a folder" in err


@pytest.mark.parametrize(
    ("sidecar", "words"),
    [
        ('params = "x"\n', '"params" must be a table of parameters'),
        ('[params.text]\nbind = "9.text"\nchoices = 5\n', '"choices" must be a list, not a number 5'),
        ('[params.n]\ntype = "int"\nbind = "9.text"\nmin = "abc"\n', "\"min\" must be a number, not text 'abc'"),
        ('[params.n]\ntype = "int"\nbind = "9.text"\nmax = true\n', '"max" must be a number'),
        ("[params.text]\nbind = 9\n", '"bind" must be a text or a list of texts'),
        ('[params.text]\nbind = ["9.text", 3]\n', '"bind" must be a text or a list of texts'),
        ('[params.text]\nbind = "9.text"\nchoices = [{a = 1}]\n', '"choices" must list plain values'),
        ('tasks = "image"\n', '"tasks" must be a list of texts'),
        ("params = 3\n", '"params" must be a table'),
        ("[params]\ntext = 4\n", 'parameter "text" must be a table'),
    ],
)
def test_malformed_sidecars_name_the_value_and_the_fix(cli, tmp_path, sidecar, words):
    flow = _workflow(tmp_path, GOOD_NODE, sidecar=sidecar)
    with pytest.raises(RejectedInput) as info:
        load_template(flow)
    assert words in info.value.message and ".params file" in str(info.value)
    code, _, err = cli("generate", "--service", "comfyui", "--workflow", str(flow), "--set", "text=x", "--url", DEAD)
    assert code == 2 and words in err
    code, _, err = cli("templates", "show", str(flow))
    assert code in (1, 2) and "error" in err.lower()


def test_a_json_sidecar_that_is_a_list(tmp_path):
    flow = _workflow(tmp_path, GOOD_NODE)
    flow.with_name("flow.params.json").write_text("[1, 2]")
    with pytest.raises(RejectedInput) as info:
        load_template(flow)
    assert "must hold a table of settings" in info.value.message


def test_a_json_sidecar_nested_too_deeply(tmp_path):
    flow = _workflow(tmp_path, GOOD_NODE)
    flow.with_name("flow.params.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(RejectedInput) as info:
        load_template(flow)
    assert "nested too deeply" in info.value.message


def test_a_well_formed_sidecar_still_works(tmp_path):
    sidecar = '[params.n]\ntype = "int"\nbind = "9.text"\nmin = 1\nmax = 5\nchoices = [1, 2, 3]\ndefault = 2\n'
    flow = _workflow(tmp_path, GOOD_NODE, sidecar=sidecar)
    assert load_template(flow).customize(n=3)["9"]["inputs"]["text"] == 3


def test_settings_errors_never_quote_rejected_values(tmp_path):
    with pytest.raises(ConfigError) as info:
        Settings.from_mapping({"comfyui": [{"url": "http://u:sekrit-value@127.0.0.1:1"}], "wan2gp_profile": "x"})
    assert "sekrit-value" not in str(info.value) and "wan2gp_profile" in str(info.value)


@pytest.mark.parametrize(
    ("sidecar", "key", "nearest"),
    [
        ('[params.text]\nbind = "9.text"\ndefualt = "x"\n', "params.text.defualt", "default"),
        ('[params.text]\nbind = "9.text"\nchoice = ["a"]\n', "params.text.choice", "choices"),
        ('descripton = "x"\n[params.text]\nbind = "9.text"\n', "descripton", "description"),
    ],
)
def test_typos_in_sidecar_keys_are_named_with_the_nearest_key(tmp_path, caplog, sidecar, key, nearest):
    flow = _workflow(tmp_path, GOOD_NODE, sidecar=sidecar)
    with caplog.at_level(logging.WARNING, logger="genbridge.templates"):
        load_template(flow)
    assert f"unknown key '{key}'" in caplog.text and f"did you mean '{nearest}'" in caplog.text


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "is a folder"),
        (b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply"),
        (b'[weights]\nspeed = "\xff"\n', "not UTF-8"),
    ],
)
def test_a_broken_routing_policy_file_is_named(cli, tmp_path, content, words):
    policy = tmp_path / "policy.toml"
    if content is None:
        policy.mkdir()
    else:
        policy.write_bytes(content)
    config = tmp_path / "g.toml"
    config.write_text(f'policy_file = "{policy.as_posix()}"\n')
    code, _, err = cli("--config", str(config), "route", "--task", "quick_preview")
    assert code == 2 and "routing policy file" in err and words in err


def test_a_huge_file_picked_as_workflow_is_refused_without_reading_it(cli, tmp_path, guard):
    model = tmp_path / "model.safetensors"
    with model.open("wb") as fh:  # sparse: 100 MB on paper, nothing on disk
        fh.truncate(100 * 1024 * 1024)
    with guard.memory_bound(8):
        code, _, err = cli("generate", "--service", "comfyui", "--workflow", str(model), "--url", DEAD)
    assert code == 2 and "100 MB" in err and "not a model or media file" in err


def test_a_huge_file_named_as_settings_is_refused_without_reading_it(cli, tmp_path):
    config = tmp_path / "g.toml"
    with config.open("wb") as fh:
        fh.truncate(20 * 1024 * 1024)
    code, _, err = cli("--config", str(config), "check")
    assert code == 2 and "20 MB" in err and "right file" in err


def test_a_bad_environment_value_names_the_variables_in_play():
    with pytest.raises(ConfigError) as info:
        Settings.load(
            env={"GENBRIDGE_VRAM_GB": "abc", "GENBRIDGE_SHARED": "/x", "GENBRIDGE_COMFYUI_KEY": "sk-k3y-1234"}
        )
    text = str(info.value)
    assert "GENBRIDGE_VRAM_GB" in text and "vram_override_gb" in text
    assert "GENBRIDGE_SHARED" not in text and "sk-k3y-1234" not in text
