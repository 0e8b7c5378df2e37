"""Which SQL functions a caller may use: a built-in allowlist per dialect, adjustable per policy file.

A function call is allowed when one of its names is on the allowlist and none is on the
policy's ``deny`` list.  sqlglot parses well-known functions into typed nodes (``LOWER(x)`` is
``exp.Lower``); their names are the node's ``sql_names()``, which is why the lists below hold
both PostgreSQL's spelling (``string_agg``) and sqlglot's canonical one (``group_concat``).  Any
other call is an ``exp.Anonymous`` node named as written.

The policy file adds and removes names under a top-level ``functions`` key::

    functions:
      allow: [my_slugify]       # added to the built-in list of the policy's dialect
      deny: [random]            # removed, even when built in

Some functions can never be allowed, whatever the policy says (``NEVER_ALLOWED``): those that
run SQL held in strings (``query_to_xml``, ``dblink``, ``ts_stat``), read or write server files
and large objects, read or change settings (``current_setting``, ``set_config``), sleep, signal
backends, or reveal the catalog and the server (``pg_*``, ``to_regclass``, ``has_*_privilege``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlglot import exp


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Syntax that sqlglot represents as function nodes (CAST, CASE, EXISTS, ARRAY[...], operators
# such as ->, @>, ~) and the SQL standard functions every dialect has.
COMMON: frozenset[str] = _words(
    """
    and or xor cast case if iif exists array extract collate coalesce ifnull nvl nullif greatest
    least array_contains array_has json_array_contains jsonb_contains j_s_o_n_b_delete_at_path
    j_s_o_n_b_path_exists regexp_full_match json_extract json_extract_scalar jsonb_extract
    jsonb_extract_scalar array_contains_all array_has_all array_contained_by array_overlaps
    regexp_like regexp_i_like j_s_o_n_b_contains_top_key j_s_o_n_b_contains_all_top_keys
    j_s_o_n_b_contains_any_top_keys match_against abs cbrt ceil ceiling degrees exp factorial floor
    ln log pi power pow radians round sign signum sqrt trunc truncate width_bucket acos asin atan
    atan2 cos cot sin tan mod ascii bit_length length len char_length character_length chr char
    concat concat_ws format initcap left lower lcase pad normalize overlay str_position regexp_count
    regexp_instr regexp_replace regexp_substr repeat replace reverse right split_part starts_with
    startswith string_to_array split_by_string substring substr hex translate trim upper ucase
    encode decode md5 s_h_a2_digest current_date current_timestamp current_time timestamp_trunc
    date_trunc justify_days justify_hours justify_interval make_interval time_from_parts
    timefromparts timestamp_from_parts timestampfromparts unix_to_time str_to_time time_to_str
    str_to_date to_number count sum avg min max array_agg group_concat logical_and bool_and
    booland_agg logical_or bool_or boolor_agg bitwise_and_agg bitwise_or_agg stddev stdev stddev_pop
    stddev_samp variance variance_samp var_samp variance_pop var_pop corr covar_pop covar_samp
    regr_slope mode percentile_cont percentile_disc any_value grouping row_number rank dense_rank
    percent_rank cume_dist ntile lag lead first_value last_value nth_value array_append array_concat
    array_cat array_size array_length array_position array_prepend array_remove array_to_string
    array_join explode exploding_generate_series generate_series unnest j_s_o_n_array_agg
    j_s_o_n_object_agg j_s_o_n_b_object_agg j_s_o_n_object json_strip_nulls uuid gen_random_uuid
    rand random
    """
)

# PostgreSQL functions that sqlglot leaves anonymous.
POSTGRES: frozenset[str] = COMMON | _words(
    """
    gcd lcm scale div octet_length quote_ident quote_literal quote_nullable regexp_match
    regexp_matches regexp_split_to_array regexp_split_to_table string_to_table to_ascii unistr
    sha224 sha256 sha384 sha512 get_byte age clock_timestamp isfinite make_date make_timestamptz
    statement_timestamp timeofday transaction_timestamp localtime localtimestamp date_part date_bin
    every jsonb_agg array_dims array_fill array_lower array_ndims array_positions array_replace
    array_upper cardinality trim_array generate_subscripts to_json to_jsonb array_to_json
    row_to_json json_build_array jsonb_build_array json_build_object jsonb_build_object json_object
    jsonb_object json_array_length jsonb_array_length json_each jsonb_each json_each_text
    jsonb_each_text jsonb_extract_path jsonb_extract_path_text json_object_keys jsonb_object_keys
    json_array_elements jsonb_array_elements json_array_elements_text jsonb_array_elements_text
    json_typeof jsonb_typeof jsonb_strip_nulls jsonb_set jsonb_insert jsonb_pretty jsonb_path_exists
    jsonb_path_match jsonb_path_query jsonb_path_query_array jsonb_path_query_first
    json_populate_record jsonb_populate_record json_to_record jsonb_to_record to_tsvector to_tsquery
    plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank ts_rank_cd ts_headline setweight
    strip numnode querytree tsvector_to_array array_to_tsvector uuid_generate_v4 num_nonnulls
    num_nulls host family masklen network abbrev broadcast hostmask netmask isempty lower_inc
    upper_inc range_merge row all any some
    """
)

BUILTIN: dict[str, frozenset[str]] = {"postgres": POSTGRES}

NEVER_ALLOWED = re.compile(
    r"""^(?:
        pg_.* | lo_.* | lo(?:read|write|open|close|creat|import|export|unlink|get|put|seek|tell) |
        dblink.* | .*_to_xml.* | .*xmlschema.* | ts_stat | ts_rewrite | query_to_.* |
        set_config | current_setting | current_setting\w* | set_\w+ |
        nextval | setval | currval | lastval | txid_.* | to_reg.* | has_\w+_privilege |
        inet_(?:client|server)_.* | version | current_version | current_database | current_catalog |
        current_schema | current_schemas | current_user | current_role | session_user | user |
        system_user | current_query | setseed | sleep | benchmark | load_file | read_\w+ | copy |
        shobj_description | obj_description | col_description | format_type | txid
    )$""",
    re.VERBOSE,
)

#: SQL-value keywords PostgreSQL evaluates as functions although they take no parentheses;
#: sqlglot parses some of them as plain columns.
KEYWORD_FUNCTIONS = frozenset(
    {
        "user",
        "current_user",
        "session_user",
        "current_role",
        "current_catalog",
        "current_schema",
        "system_user",
    }
)


def builtin_allowlist(dialect: str) -> frozenset[str]:
    """The built-in allowlist for ``dialect`` (the common list for dialects without their own)."""
    return BUILTIN.get(dialect, COMMON)


def never_allowed(name: str) -> bool:
    """Whether ``name`` is a function no policy may allow (it escapes the row filters)."""
    return bool(NEVER_ALLOWED.match(name.lower()))


def function_names(node: exp.Func) -> tuple[str, ...]:
    """The lower-case names a function node is known by."""
    if isinstance(node, exp.Anonymous):
        return (node.name.lower(),)
    return tuple(name.lower() for name in type(node).sql_names())


class FunctionPolicy:
    """The effective allowlist: built-in names plus ``allow``, minus ``deny``."""

    __slots__ = ("allowed", "denied")

    def __init__(self, dialect: str, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> None:
        self.denied = frozenset(name.lower() for name in deny)
        self.allowed = (builtin_allowlist(dialect) | {name.lower() for name in allow}) - self.denied

    def refusal(self, node: exp.Func) -> str | None:
        """Why ``node`` may not be called (``None`` when it may)."""
        if isinstance(node, exp.Anonymous) and isinstance(node.this, exp.Identifier) and node.this.quoted:
            return f'function "{node.name}" is not allowed: call functions by their unquoted name'
        names = function_names(node)
        shown = names[0] if names else node.key
        if any(never_allowed(name) or name in self.denied for name in names):
            return f"function {shown} is not allowed"
        if not any(name in self.allowed for name in names):
            return f"function {shown} is not allowed (if it is safe, list it under functions.allow)"
        return None
