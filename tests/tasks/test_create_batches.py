from prefect.states import Failed

from tasks.create_batches import _worth_retrying
from themegen.source.bigquery.client import SourceConfigError


async def test_transient_errors_are_retried_but_configuration_errors_are_not():
    # The engine calls the condition from inside its event loop, as this async test does.
    assert await _worth_retrying(None, None, Failed(data=RuntimeError("BigQuery 503"))) is True
    assert await _worth_retrying(None, None, Failed(data=ValueError("batch_ids [9] do not exist"))) is False
    assert await _worth_retrying(None, None, Failed(data=SourceConfigError("fix THEMEGEN_BQ_TABLE"))) is False
