"""The operator library: one module per operator, named for the mathematics."""

from .aggregate import GroupAggregate
from .aggregates import Aggregate, Avg, Count, GroupConcat, Max, Min, Sum, Total
from .base import Operator
from .delay import Delay
from .differentiate import Differentiate
from .distinct import Distinct
from .filter import Filter
from .flat_map import FlatMap
from .integrate import Integrate
from .join import Join, concat
from .map import Map, Project
from .outer_join import OuterJoin, full_join, left_join, right_join
from .plus import Minus, Negate, Plus
from .recursive import Recursive
from .semijoin import AntiJoin, SemiJoin
from .theta_join import ThetaJoin, cross_join
from .topk import TopK
from .window import Window

__all__ = [
    "Aggregate", "AntiJoin", "Avg", "Count", "Delay", "Differentiate", "Distinct",
    "Filter", "FlatMap", "GroupAggregate", "GroupConcat", "Integrate", "Join", "Map",
    "Max", "Min", "Minus", "Negate", "Operator", "OuterJoin", "Plus", "Project",
    "Recursive", "SemiJoin", "Sum", "ThetaJoin", "TopK", "Total", "Window", "concat",
    "cross_join", "full_join", "left_join", "right_join",
]
