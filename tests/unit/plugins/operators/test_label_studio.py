"""LabelStudioLabelingOperator: the round operator bound to the Label Studio backend. The round against
a real server is in tests/integration/test_label_studio.py."""

from __future__ import annotations

from datacentric_airflow.operators.label_studio import LabelStudioLabelingOperator


class TestLabelStudioLabelingOperator:
    def test_shape(self) -> None:
        assert set(LabelStudioLabelingOperator.template_fields) == {"manifest", "label_studio_conn_id"}
        op = LabelStudioLabelingOperator(task_id="label", manifest="m.yaml", label_studio_conn_id="ls")
        assert (op.backend_type, op.conn_id, op.deferrable) == ("label_studio", "ls", True)
