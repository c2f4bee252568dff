from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import rattler

from ophis.core.channel import (
    Channel,
    ChannelContext,
    MultiChannel,
    expand_channels,
    parse_channel,
    split_channel_and_spec,
)
from ophis.core.errors import ChannelError

PLAIN = ChannelContext(root_dir="/work/project", home_dir="/home/user", subdirs=("linux-64",))

# conda's own test configuration (tests/models/test_channel.py, CustomConfigChannelTests).
CUSTOM = ChannelContext(
    channel_alias="ftp://new.url:8082",
    migrated_channel_aliases=("https://conda.anaconda.org",),
    custom_channels={
        "darwin": "https://some.url.somewhere/stuff",
        "chuck": "http://user1:pass2@another.url:8080/t/tk-1234/with/path",
    },
    migrated_custom_channels={"darwin": "s3://just/cant"},
    default_channels=(
        "http://192.168.0.15:8080/pkgs/anaconda",
        "http://192.168.0.15:8080/pkgs/pro",
    ),
    subdirs=("osx-64",),
)
MULTI = ChannelContext(custom_multichannels={"mine": ("conda-forge", "https://host.example/other")})

# conda's AnacondaServerChannelTests: an alias with a path and a token.
SERVER = ChannelContext(
    channel_alias="https://10.2.3.4:8080/conda/t/tk-123-45", subdirs=("linux-64",)
)

CASES: list[tuple[str, ChannelContext, dict[str, Any]]] = [
    # names under the channel alias
    ("conda-forge", PLAIN, {"name": "conda-forge", "canonical_name": "conda-forge",
                            "base_url": "https://conda.anaconda.org/conda-forge"}),
    ("owner/label/dev", PLAIN, {"name": "owner/label/dev", "label": "dev",
                                "canonical_name": "owner/label/dev"}),
    ("owner", PLAIN, {"label": None}),
    ("conda-forge/linux-64", PLAIN, {"name": "conda-forge", "platform": "linux-64",
                                     "str": "https://conda.anaconda.org/conda-forge/linux-64"}),
    ("conda-forge/", PLAIN, {"name": "conda-forge"}),
    # the defaults members are custom channels of their own
    ("pkgs/main", PLAIN, {"base_url": "https://repo.anaconda.com/pkgs/main",
                          "canonical_name": "defaults"}),
    ("pkgs/main/label/dev", PLAIN, {"base_url": "https://repo.anaconda.com/pkgs/main/label/dev",
                                    "canonical_name": "pkgs/main/label/dev"}),
    ("https://repo.anaconda.com/pkgs/r/osx-64", PLAIN, {
        "name": "pkgs/r", "platform": "osx-64", "canonical_name": "defaults",
        "urls": ["https://repo.anaconda.com/pkgs/r/osx-64",
                 "https://repo.anaconda.com/pkgs/r/noarch"]}),
    # URLs under the alias
    ("https://conda.anaconda.org/conda-forge", PLAIN, {"canonical_name": "conda-forge"}),
    ("https://conda.anaconda.org/conda-forge/noarch", PLAIN, {
        "platform": "noarch", "urls": ["https://conda.anaconda.org/conda-forge/noarch"]}),
    ("https://conda.anaconda.org/conda-forge/linux-64/zlib-1.3-h4ab18f5_1.conda", PLAIN, {
        "name": "conda-forge", "platform": "linux-64",
        "package_filename": "zlib-1.3-h4ab18f5_1.conda",
        "url": "https://conda.anaconda.org/conda-forge/linux-64/zlib-1.3-h4ab18f5_1.conda"}),
    ("HTTPS://Conda.Anaconda.ORG/conda-forge", PLAIN, {"canonical_name": "conda-forge",
                                                       "scheme": "https"}),
    # tokens, anywhere in the path
    ("https://conda.anaconda.org/t/tk-123-45/owner", PLAIN, {
        "name": "owner", "token": "tk-123-45", "canonical_name": "owner",
        "base_url": "https://conda.anaconda.org/owner",
        "urls_token": ["https://conda.anaconda.org/t/tk-123-45/owner/linux-64",
                       "https://conda.anaconda.org/t/tk-123-45/owner/noarch"],
        "redacted_url": "https://conda.anaconda.org/t/<TOKEN>/owner"}),
    ("https://host.example/prefix/t/tok-9/owner/label/dev", PLAIN, {
        "name": "prefix/owner/label/dev", "token": "tok-9", "label": "dev",
        "base_url": "https://host.example/prefix/owner/label/dev",
        "canonical_name": "https://host.example/prefix/owner/label/dev"}),
    ("http://localhost:8080/t/abc/owner/linux-64", PLAIN, {
        "location": "localhost:8080", "name": "owner", "token": "abc", "platform": "linux-64",
        "url_token": "http://localhost:8080/t/abc/owner/linux-64"}),
    # basic auth
    ("https://user:s%40cret@host.example/ch", PLAIN, {
        "auth": ("user", "s@cret"), "name": "ch", "canonical_name": "https://host.example/ch",
        "base_url": "https://host.example/ch",
        "redacted_url": "https://user:*****@host.example/ch",
        "urls_auth": ["https://user:s%40cret@host.example/ch/linux-64",
                      "https://user:s%40cret@host.example/ch/noarch"]}),
    # other hosts
    ("http://conda-01", PLAIN, {"name": "", "canonical_name": "http://conda-01",
                                "urls": ["http://conda-01/linux-64", "http://conda-01/noarch"]}),
    ("https://host.example/conda/ch", PLAIN, {"location": "host.example/conda", "name": "ch"}),
    ("s3://bucket/channel", PLAIN, {"scheme": "s3", "name": "channel",
                                    "base_url": "s3://bucket/channel"}),
    # files and paths
    ("file:///x/channel-1", PLAIN, {"name": "channel-1", "location": "/x",
                                    "canonical_name": "file:///x/channel-1"}),
    ("file:///x/channel-1/noarch", PLAIN, {"name": "channel-1", "platform": "noarch"}),
    ("/abs/path/chan", PLAIN, {"base_url": "file:///abs/path/chan", "name": "chan"}),
    ("./rel/chan", PLAIN, {"base_url": "file:///work/project/rel/chan"}),
    ("../sibling", PLAIN, {"base_url": "file:///work/sibling", "name": "sibling"}),
    (".", PLAIN, {"base_url": "file:///work/project", "name": "project"}),
    ("~/chan", PLAIN, {"base_url": "file:///home/user/chan"}),
    ("C:\\conda\\chan", PLAIN, {"base_url": "file:///C:/conda/chan", "name": "chan"}),
    ("file:///C:/conda/chan", PLAIN, {"base_url": "file:///C:/conda/chan", "name": "chan"}),
    ("file:///C:\\conda\\chan", PLAIN, {"base_url": "file:///C:/conda/chan"}),
    ("./chan", ChannelContext(root_dir="D:\\work"), {"base_url": "file:///D:/work/chan"}),
    ("/tmp/my channel", PLAIN, {"name": "my channel", "base_url": "file:///tmp/my%20channel"}),
    # custom channels, migrated channels and a changed alias (conda's configuration tests)
    ("darwin", CUSTOM, {"location": "some.url.somewhere/stuff", "canonical_name": "darwin",
                        "base_url": "https://some.url.somewhere/stuff/darwin"}),
    ("https://some.url.somewhere/stuff/darwin/label/dev/linux-64", CUSTOM, {
        "name": "darwin/label/dev", "platform": "linux-64", "canonical_name": "darwin/label/dev"}),
    ("chuck", CUSTOM, {
        "scheme": "http", "auth": ("user1", "pass2"), "token": "tk-1234",
        "location": "another.url:8080/with/path",
        "url_token": "http://another.url:8080/with/path/t/tk-1234/chuck/osx-64",
        "url_creds": "http://user1:pass2@another.url:8080/with/path/t/tk-1234/chuck/osx-64"}),
    ("s3://just/cant/darwin/osx-64", CUSTOM, {
        "name": "darwin", "platform": "osx-64", "scheme": "https", "canonical_name": "darwin",
        "base_url": "https://some.url.somewhere/stuff/darwin"}),
    ("https://conda.anaconda.org/conda-forge/osx-64/pkg-1-0.tar.bz2", CUSTOM, {
        "canonical_name": "conda-forge", "base_url": "ftp://new.url:8082/conda-forge",
        "url": "ftp://new.url:8082/conda-forge/osx-64/pkg-1-0.tar.bz2"}),
    ("charlie", CUSTOM, {"base_url": "ftp://new.url:8082/charlie", "canonical_name": "charlie"}),
    ("pkgs/anaconda", CUSTOM, {"location": "192.168.0.15:8080", "canonical_name": "defaults"}),
    ("conda-forge", MULTI, {"canonical_name": "mine"}),  # a member of a custom multichannel
    # an alias with a path and a token (Anaconda Server)
    ("bioconda", SERVER, {
        "location": "10.2.3.4:8080/conda", "token": "tk-123-45", "canonical_name": "bioconda",
        "urls": ["https://10.2.3.4:8080/conda/bioconda/linux-64",
                 "https://10.2.3.4:8080/conda/bioconda/noarch"],
        "url_token": "https://10.2.3.4:8080/conda/t/tk-123-45/bioconda/linux-64"}),
    ("https://10.2.3.4:8080/t/x1029384756/conda/bioconda", SERVER, {
        "name": "bioconda", "token": "x1029384756", "canonical_name": "bioconda",
        "url_token": "https://10.2.3.4:8080/conda/t/x1029384756/bioconda/linux-64"}),
]  # fmt: skip


def _observed(channel: Channel, key: str) -> Any:
    special = {
        "str": lambda: str(channel),
        "urls": channel.urls,
        "urls_token": lambda: channel.urls(with_token=True),
        "urls_auth": lambda: channel.urls(with_auth=True),
        "url": channel.url,
        "url_token": lambda: channel.url(with_token=True),
        "url_creds": lambda: channel.url(with_token=True, with_auth=True),
    }
    return special[key]() if key in special else getattr(channel, key)


@pytest.mark.parametrize(
    ("spec", "ctx", "expected"), CASES, ids=[f"{i}:{case[0]}" for i, case in enumerate(CASES)]
)
def test_channel_parsing(spec: str, ctx: ChannelContext, expected: dict[str, Any]) -> None:
    channel = parse_channel(spec, ctx)
    assert isinstance(channel, Channel)
    observed = {key: _observed(channel, key) for key in expected}
    assert observed == expected


@pytest.mark.parametrize(
    ("spec", "ctx", "fragment"),
    [
        ("", PLAIN, "empty"),
        ("   ", PLAIN, "empty"),
        ("http://", PLAIN, "has no host"),
        ("https:///srv/ch", PLAIN, "has no host"),
        ("file://", PLAIN, "has no path"),
        ("https://host:99999/ch", PLAIN, "invalid host or port"),
        ("gopher://host/ch", PLAIN, "scheme 'gopher'"),
        ("https://host/my channel", PLAIN, "whitespace"),
        ("conda forge", PLAIN, "whitespace"),
        ("conda-forge::numpy", PLAIN, "'channel::package' spec"),
        ("::", PLAIN, "'channel::package' spec"),
        ("a//b", PLAIN, "empty path segment"),
        ("owner/../other", PLAIN, "contains '..'"),
        ("conda-forge:dev", PLAIN, "contains 'conda-forge:dev'"),
        ("~other/ch", PLAIN, "only '~'"),
        ("./rel", ChannelContext(), "needs a working directory"),
        ("~/ch", ChannelContext(), "no home directory"),
    ],
)
def test_invalid_channels_explain_what_is_wrong(
    spec: str, ctx: ChannelContext, fragment: str
) -> None:
    with pytest.raises(ChannelError) as info:
        parse_channel(spec, ctx)
    assert fragment in info.value.message
    assert "'conda-forge'" in info.value.remedy  # what a valid channel looks like


def test_defaults_is_a_multichannel_of_main_and_r() -> None:
    defaults = parse_channel("defaults", PLAIN)
    assert isinstance(defaults, MultiChannel)
    assert defaults.canonical_name == "defaults"
    assert defaults.urls() == [
        "https://repo.anaconda.com/pkgs/main/linux-64",
        "https://repo.anaconda.com/pkgs/main/noarch",
        "https://repo.anaconda.com/pkgs/r/linux-64",
        "https://repo.anaconda.com/pkgs/r/noarch",
    ]


def test_defaults_with_a_platform_narrows_every_member() -> None:
    defaults = parse_channel("defaults/osx-arm64", PLAIN)
    assert isinstance(defaults, MultiChannel)
    assert {channel.platform for channel in defaults.channels} == {"osx-arm64"}


def test_expand_channels_flattens_multichannels_and_drops_duplicates() -> None:
    channels = expand_channels(["conda-forge", "defaults", "conda-forge", "pkgs/main"], PLAIN)
    assert [channel.base_url for channel in channels] == [
        "https://conda.anaconda.org/conda-forge",
        "https://repo.anaconda.com/pkgs/main",
        "https://repo.anaconda.com/pkgs/r",
    ]
    custom = expand_channels(["mine"], MULTI)
    assert [channel.base_url for channel in custom] == [
        "https://conda.anaconda.org/conda-forge",
        "https://host.example/other",
    ]


def test_custom_channels_win_over_the_alias() -> None:
    ctx = ChannelContext(custom_channels={"conda-forge": "https://mirror.example/conda"})
    channel = parse_channel("conda-forge/label/dev", ctx)
    assert isinstance(channel, Channel)
    assert channel.base_url == "https://mirror.example/conda/conda-forge/label/dev"
    assert channel.canonical_name == "conda-forge/label/dev"


def test_label_main_is_the_bare_owner() -> None:
    assert parse_channel("owner/label/main", PLAIN) == parse_channel("owner", PLAIN)
    assert parse_channel("owner/label/dev", PLAIN) != parse_channel("owner", PLAIN)
    assert parse_channel("https://conda.anaconda.org/t/tk-1/owner", PLAIN) == parse_channel(
        "owner", PLAIN
    )


def test_secrets_never_reach_str_or_repr() -> None:
    channel = parse_channel("https://user:hunter2@host.example/t/tk-999/ch", PLAIN)
    assert isinstance(channel, Channel)
    for text in (str(channel), repr(channel), channel.base_url, channel.redacted_url):
        assert "hunter2" not in text
        assert "tk-999" not in text
    assert channel.redacted_url == "https://user:*****@host.example/t/<TOKEN>/ch"


def test_noarch_is_always_among_the_urls() -> None:
    channel = parse_channel("conda-forge", PLAIN)
    assert isinstance(channel, Channel)
    assert channel.urls(["win-64"]) == [
        "https://conda.anaconda.org/conda-forge/win-64",
        "https://conda.anaconda.org/conda-forge/noarch",
    ]
    assert channel.urls(["noarch", "osx-64"])[0].endswith("/noarch")


def test_to_rattler_points_at_the_same_base_url() -> None:
    channel = parse_channel("owner/label/dev", PLAIN)
    assert isinstance(channel, Channel)
    converted = channel.to_rattler()
    assert isinstance(converted, rattler.Channel)
    assert converted.base_url.rstrip("/") == channel.base_url


# --- real local channels ------------------------------------------------------------------


def _url_to_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


def test_file_channel_over_conda_test_recipes(testdata: Path) -> None:
    recipes = testdata / "conda" / "test-recipes"
    ctx = ChannelContext(subdirs=("linux-fake",))
    channel = parse_channel(recipes.as_uri(), ctx)
    assert isinstance(channel, Channel)
    assert channel.name == "test-recipes"  # what conda's --json "channel" field shows
    assert channel.canonical_name == recipes.as_uri()  # conda: the base URL, for file channels
    urls = channel.urls()
    assert [url.rsplit("/", 1)[1] for url in urls] == ["linux-fake", "noarch"]
    for url in urls:
        assert (_url_to_path(url) / "repodata.json").is_file()


def test_plain_path_to_test_recipes_matches_its_file_url(testdata: Path) -> None:
    recipes = testdata / "conda" / "test-recipes"
    ctx = ChannelContext(subdirs=("linux-fake",))
    from_path = parse_channel(str(recipes), ctx)
    relative = parse_channel("./test-recipes", ChannelContext(root_dir=str(recipes.parent)))
    assert from_path == parse_channel(recipes.as_uri(), ctx) == relative
    assert isinstance(relative, Channel)
    assert relative.base_url == recipes.as_uri()


def test_a_fake_subdir_is_split_off_only_when_it_is_a_session_subdir(testdata: Path) -> None:
    url = (testdata / "conda" / "test-recipes" / "linux-fake").as_uri()
    with_fake = parse_channel(url, ChannelContext(subdirs=("linux-fake",)))
    without = parse_channel(url, ChannelContext(subdirs=("linux-64",)))
    assert isinstance(with_fake, Channel)
    assert isinstance(without, Channel)
    assert (with_fake.name, with_fake.platform) == ("test-recipes", "linux-fake")
    assert (without.name, without.platform) == ("linux-fake", None)  # conda's known_subdirs rule


# --- channel::spec ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("numpy>=1", (None, "numpy>=1")),
        ("conda-forge::numpy>=1", ("conda-forge", "numpy>=1")),
        ("conda-forge/linux-64::numpy", ("conda-forge/linux-64", "numpy")),
        ("https://conda.anaconda.org/conda-forge::numpy", (
            "https://conda.anaconda.org/conda-forge", "numpy")),
        ("file:///srv/ch::numpy[build=py*]", ("file:///srv/ch", "numpy[build=py*]")),
        ("C:\\chan::numpy", ("C:\\chan", "numpy")),
        ("numpy[channel=conda-forge]", (None, "numpy[channel=conda-forge]")),
        ("https://host.example/ch/linux-64/numpy-1.0-0.conda", (
            None, "https://host.example/ch/linux-64/numpy-1.0-0.conda")),
    ],
)  # fmt: skip
def test_split_channel_and_spec(spec: str, expected: tuple[str | None, str]) -> None:
    assert split_channel_and_spec(spec) == expected


def test_channel_subdir_spec_names_the_platform() -> None:
    channel_part, _ = split_channel_and_spec("conda-forge/osx-arm64::numpy")
    assert channel_part is not None
    channel = parse_channel(channel_part, PLAIN)
    assert isinstance(channel, Channel)
    assert (channel.canonical_name, channel.platform) == ("conda-forge", "osx-arm64")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("::numpy", "nothing before '::'"),
        ("conda-forge::", "no package after '::'"),
        ("a::b::numpy", "more than one '::'"),
        ("conda-forge:::numpy", "more than one '::'"),
        ("conda-forge:numpy", "single ':'"),
    ],
)
def test_odd_channel_spec_forms_are_refused(spec: str, fragment: str) -> None:
    with pytest.raises(ChannelError, match=fragment):
        split_channel_and_spec(spec)
