-- title: Burn rate by day
-- description: Dollars and tokens the agents spent on each local day, the agent hours they ran, and the dollars per agent hour (agent.exited data.usage and duration_s).
SELECT day,
       round(sum(coalesce(json_extract(data, '$.usage.cost_usd'), 0)), 4) AS cost_usd,
       sum(coalesce(json_extract(data, '$.usage.input_tokens'), 0)
           + coalesce(json_extract(data, '$.usage.output_tokens'), 0)) AS tokens,
       round(sum(coalesce(json_extract(data, '$.duration_s'), 0)) / 3600.0, 3) AS agent_hours,
       CASE WHEN sum(coalesce(json_extract(data, '$.duration_s'), 0)) > 0
            THEN round(sum(coalesce(json_extract(data, '$.usage.cost_usd'), 0))
                       / (sum(json_extract(data, '$.duration_s')) / 3600.0), 4) END AS usd_per_agent_hour
FROM events
WHERE kind = 'agent.exited'
  AND ts >= batty_since(:since)
GROUP BY day
ORDER BY day
