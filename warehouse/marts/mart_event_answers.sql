-- venue survey answers per event, question and choice, with each choice's share and polarity (the report's 9割程度 = すごく感じた + 感じた over every answer, 無回答 included)
-- grain: event_id, question, choice
-- columns:
--   event_id        event.id
--   city_code       city hosting the event (city.code)
--   kind            exhibition, workshop or symposium
--   title           event title (名称)
--   venue           venue (会場)
--   question        survey question (設問)
--   choice          choice as printed on the questionnaire (選択肢)
--   choice_order    display order of the choice (選択肢順)
--   answers         people who chose it (回答数)
--   question_answers  every answer to the question at the event, 無回答 included (the share's denominator)
--   share_pct       answers / question_answers × 100, rounded half away from zero to one decimal
--   positive_pct    the question's すごく感じた + 感じた answers / question_answers × 100, one decimal (the same on every choice row)
--   polarity        positive (すごく感じた, 感じた), negative (あまり感じなかった, 感じなかった), no_answer (無回答); null for any other label
with

event as (
    select * from event
),

survey as (
    select * from event_survey_result
),

polarities (choice, polarity) as (
    values
        ('すごく感じた', 'positive'),
        ('感じた', 'positive'),
        ('あまり感じなかった', 'negative'),
        ('感じなかった', 'negative'),
        ('無回答', 'no_answer')
),

totals as (
    select
        s.event_id,
        s.question,
        sum(s.answers)::bigint as question_answers,
        coalesce((sum(s.answers) filter (where p.polarity = 'positive'))::bigint, 0) as positive_answers
    from survey as s
    left join polarities as p on p.choice = s.choice
    group by s.event_id, s.question
),

final as (
    select
        s.event_id,
        e.city_code,
        e.kind,
        e.title,
        e.venue,
        s.question,
        s.choice,
        s.choice_order,
        s.answers,
        t.question_answers,
        case when t.question_answers = 0 then null
             else round(100.0 * s.answers / t.question_answers, 1)::double
        end as share_pct,
        case when t.question_answers = 0 then null
             else round(100.0 * t.positive_answers / t.question_answers, 1)::double
        end as positive_pct,
        p.polarity
    from survey as s
    join event as e on e.id = s.event_id
    join totals as t on t.event_id = s.event_id and t.question = s.question
    left join polarities as p on p.choice = s.choice
)

select * from final
