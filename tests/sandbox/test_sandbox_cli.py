from __future__ import annotations

from srft_ray.cli import main as srft_main


def test_srft_sandbox_prints_output_returncode_and_reason(source_repo, capsys):
    status = srft_main(["sandbox", "--dir", str(source_repo), "--", "ls; exit 3"])
    out = capsys.readouterr().out
    assert status == 3
    assert "calc.py" in out and "returncode=3 end_reason=exit" in out


def test_srft_sandbox_timeout_and_overrides(source_repo, capsys):
    status = srft_main(
        [
            "sandbox",
            "--dir",
            str(source_repo),
            "--timeout",
            "1",
            "-o",
            "memory_mb=300",
            "--",
            "sleep",
            "5",
        ]
    )
    assert status == 124
    assert "returncode=None end_reason=timeout" in capsys.readouterr().out


def test_srft_sandbox_bad_input(source_repo, capsys):
    assert srft_main(["sandbox", "--dir", str(source_repo / "missing"), "--", "ls"]) == 2
    assert srft_main(["sandbox", "-o", "memory=1", "--", "ls"]) == 2
    assert "unknown key 'memory'" in capsys.readouterr().err


def test_srft_sandbox_on_each_backend(backend, source_repo, capsys):
    import os

    image = os.environ.get("SRFT_DOCKER_IMAGE", "")
    args = ["sandbox", "--backend", backend, "--dir", str(source_repo), "--timeout", "30"]
    args += ["--image", image] if backend == "docker" else []
    status = srft_main([*args, "--", "python3 -m pytest -q -p no:cacheprovider"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "1 passed" in out and f"[sandbox {backend}] returncode=0 end_reason=exit" in out


def test_srft_sandbox_quotes_several_words(source_repo, capsys):
    # Several words are a command and its arguments, exactly as the calling shell split them.
    assert srft_main(["sandbox", "--dir", str(source_repo), "--", "python3", "-c", "print(1)"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1\n"), out
    status = srft_main(["sandbox", "--dir", str(source_repo), "--", "bash", "-c", "echo a; echo b"])
    out = capsys.readouterr().out
    assert status == 0 and out.startswith("a\nb\n"), out
    # One word stays a shell command line: pipes, `;` and globs work.
    assert srft_main(["sandbox", "--dir", str(source_repo), "--", "echo x; ls *.py | wc -l"]) == 0
    assert capsys.readouterr().out.startswith("x\n2\n")
