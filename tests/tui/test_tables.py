"""Result cells: one look for a number, whatever numeric type DuckDB returned it as."""

from decimal import Decimal

from memscope.tui.widgets.tables import cell


def test_a_decimal_reads_like_the_same_double():
    # round(x, 3) can come back as DECIMAL(_, 3) or DOUBLE; the table must not show 0.494 for one
    # and 0.4940 for the other
    assert cell(Decimal("0.494")).plain == cell(0.494).plain == "0.4940"
    assert cell(Decimal("0.000")).plain == cell(0.0).plain
    assert cell(Decimal("123456.5")).plain == cell(123456.5).plain


def test_null_bool_and_int_keep_their_look():
    assert cell(None).plain == "NULL"
    assert cell(True) == "true"
    assert cell(7).plain == "7"
