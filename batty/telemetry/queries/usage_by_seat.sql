-- title: Usage and cost by seat
-- description: Agent runs on each seat and the tokens and dollars the runner recorded when each exited (agent.exited data.usage).
SELECT coalesce(seat, '-') AS seat,
       count(*) AS runs,
       sum(json_extract(data, '$.usage.input_tokens')) AS input_tokens,
       sum(json_extract(data, '$.usage.output_tokens')) AS output_tokens,
       round(sum(json_extract(data, '$.usage.cost_usd')), 4) AS cost_usd
FROM events
WHERE kind = 'agent.exited'
  AND ts >= batty_since(:since)
GROUP BY coalesce(seat, '-')
ORDER BY seat
