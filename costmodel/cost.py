"""The unit every cost-model figure is given in: the area of a component and the energy of one
use of it. Technology tables (:mod:`.tech`) hold these for single operations; component models
(:mod:`.components`) scale them to widths; PE models add them up."""

from dataclasses import dataclass

__all__ = ["ComponentCost"]


@dataclass(frozen=True, slots=True)
class ComponentCost:
    """Area of a component and energy of one use of it.

    Parameters
    ----------
    area_um2 : float
        Silicon area.
    energy_pj : float
        Energy per operation (in a PE breakdown: per beat, summed over the component's uses).
    """

    area_um2: float
    energy_pj: float

    def __add__(self, other: "ComponentCost") -> "ComponentCost":
        if not isinstance(other, ComponentCost):
            return NotImplemented
        return ComponentCost(self.area_um2 + other.area_um2, self.energy_pj + other.energy_pj)

    def __mul__(self, count: float) -> "ComponentCost":
        """``count`` instances used once each per operation (area and energy both scale)."""
        if isinstance(count, bool) or not isinstance(count, (int, float)):
            return NotImplemented
        return ComponentCost(self.area_um2 * count, self.energy_pj * count)

    __rmul__ = __mul__

    @classmethod
    def zero(cls) -> "ComponentCost":
        return cls(0.0, 0.0)
